// GET /_matrix/federation/v1/query/profile, behind X-Matrix: the one
// federation query fedpeer answers, from the `test_users` map of the config,
// so a Synapse can look up a user on this peer end to end.
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { TestUser } from '../../config/types.js';
import { MatrixError, notFound } from '../../matrix/errors.js';
import { addRoute } from '../matrix-errors.js';

export interface ProfileDeps {
  serverName: string;
  users: Readonly<Record<string, TestUser>>;
  auth: preHandlerAsyncHookHandler;
}

function domainOf(userId: string): string | undefined {
  const colon = userId.indexOf(':');
  return userId.startsWith('@') && colon > 1 ? userId.slice(colon + 1) : undefined;
}

export function registerProfileRoute(app: FastifyInstance, deps: ProfileDeps): void {
  addRoute(
    app,
    '/_matrix/federation/v1/query/profile',
    {
      GET: async (request: FastifyRequest) => {
        const { user_id: userId, field } = request.query as Record<string, unknown>;
        if (typeof userId !== 'string' || userId === '') throw new MatrixError(400, 'M_MISSING_PARAM', 'Missing user_id');
        if (field !== undefined && field !== 'displayname' && field !== 'avatar_url') {
          throw new MatrixError(400, 'M_INVALID_PARAM', 'field must be displayname or avatar_url');
        }
        const domain = domainOf(userId);
        if (domain === undefined) throw new MatrixError(400, 'M_INVALID_PARAM', `Invalid user id ${JSON.stringify(userId)}`);
        if (domain !== deps.serverName) throw new MatrixError(403, 'M_FORBIDDEN', `User ${userId} is not hosted on this server (${deps.serverName})`);
        const user = deps.users[userId];
        if (!user) throw notFound(`Profile not found: ${userId}`);
        const profile: Record<string, string> = {};
        if (user.displayname !== undefined) profile.displayname = user.displayname;
        if (user.avatarUrl !== undefined) profile.avatar_url = user.avatarUrl;
        if (field === undefined) return profile;
        return field in profile ? { [field as string]: profile[field as string] } : {};
      },
    },
    { preHandler: deps.auth },
  );
}
