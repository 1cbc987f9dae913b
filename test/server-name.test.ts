import t from 'tap';
import { parseServerName, isValidServerName, formatServerName, urlHost, ServerNameError } from '../src/matrix/server-name.js';

t.test('the spec examples of valid server names', async (t) => {
  t.same(parseServerName('matrix.org'), { host: 'matrix.org', kind: 'dns' });
  t.same(parseServerName('matrix.org:8888'), { host: 'matrix.org', port: 8888, kind: 'dns' });
  t.same(parseServerName('1.2.3.4'), { host: '1.2.3.4', kind: 'ipv4' });
  t.same(parseServerName('1.2.3.4:1234'), { host: '1.2.3.4', port: 1234, kind: 'ipv4' });
  t.same(parseServerName('[1234:5678::abcd]'), { host: '1234:5678::abcd', kind: 'ipv6' });
  t.same(parseServerName('[1234:5678::abcd]:5678'), { host: '1234:5678::abcd', port: 5678, kind: 'ipv6' });
});

t.test('other valid names', async (t) => {
  for (const name of ['localhost', 'localhost:8448', 'a', 'EXAMPLE.test', 'hs-1.example.test:1', 'x.y:65535', '[::1]', '[::ffff:1.2.3.4]:443', 'a'.repeat(255)]) {
    t.ok(isValidServerName(name), name);
    t.equal(formatServerName(parseServerName(name)), name, `${name} round-trips`);
  }
});

t.test('invalid names are refused with the reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['matrix.org:', /port must be 1 to 5 digits/],
    ['matrix.org:0', /between 1 and 65535/],
    ['matrix.org:65536', /between 1 and 65535/],
    ['matrix.org:123456', /1 to 5 digits/],
    ['matrix.org:+80', /1 to 5 digits/],
    ['under_score.org', /only letters, digits/],
    ['white space', /only letters, digits/],
    ['a'.repeat(256), /at most 255/],
    ['ex@mple.org', /only letters, digits/],
    ['ünicode.org', /only letters, digits/],
    ['[1234:5678::abcd', /missing "\]"/],
    ['[1234::abcd]x', /unexpected text after/],
    ['[1234::abcd]:', /1 to 5 digits/],
    ['[not:an:ip]', /not a valid IPv6/],
    ['[1.2.3.4]', /not a valid IPv6/],
    ['1234:5678::abcd', /IPv6 addresses must be in brackets/],
    ['1.2.3.256', /not a valid IPv4/],
    ['1.2.3.4:99999', /between 1 and 65535/],
  ];
  for (const [name, reason] of cases) {
    t.notOk(isValidServerName(name), JSON.stringify(name));
    t.throws(() => parseServerName(name), reason);
  }
  t.throws(() => parseServerName(undefined as unknown as string), ServerNameError);
});

t.test('hosts for URLs', async (t) => {
  t.equal(urlHost(parseServerName('[::1]:8448')), '[::1]');
  t.equal(urlHost(parseServerName('example.test:8448')), 'example.test');
});
