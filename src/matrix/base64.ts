// Matrix uses standard base64 without padding. Decoding also takes padded
// input, as the spec allows, but rejects characters outside the alphabet:
// Buffer.from(s, 'base64') would silently drop them.
const ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

export function decodeBase64(text: string): Buffer {
  if (!ALPHABET.test(text)) throw new Error('invalid base64: unexpected character');
  const body = text.replace(/=+$/, '');
  if (body.length % 4 === 1) throw new Error('invalid base64: impossible length');
  if (text.length !== body.length && text.length % 4 !== 0) throw new Error('invalid base64: wrong padding');
  return Buffer.from(body, 'base64');
}
