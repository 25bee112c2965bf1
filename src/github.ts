/**
 * The GitHub connection, built by the composition root from config: a GitHub App (installation tokens via octokit's
 * `App`, the installation looked up per repository and cached) or one plain token; `AIRLOCK_GITHUB_API_URL` for
 * GitHub Enterprise Server and tests. Octokit's throttling plugin paces writes as GitHub asks; a rate limit is not
 * waited out inside the process: the request fails and the activity maps it to a retry after the delay GitHub asked
 * for (activities/github/client.ts). Octokit's retry plugin retries server errors a few times.
 *
 * Tokens and the App's private key live only inside these clients: never in tool inputs or outputs (workflow
 * history), the audit trail or logs.
 */
import Bottleneck from 'bottleneck';
import { App, Octokit } from 'octokit';
import type { GithubConfig } from './config';
import { splitRepo, type GithubClients } from './core/github';

/** Octokit's log, without request details: warnings and errors only, through the caller's logger. */
export interface GithubLog {
  warn: (msg: string) => void;
  error: (msg: string) => void;
}

/** The Octokit class every client of this process is made from: base URL, pacing, no in-process rate-limit waits. */
export function octokitClass(config: GithubConfig, log?: GithubLog): typeof Octokit {
  const spacing = config.writeIntervalMs;
  const groups =
    spacing === undefined
      ? {}
      : {
          write: new Bottleneck.Group({ maxConcurrent: 1, minTime: spacing }),
          notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: spacing }),
        };
  const quiet = () => undefined;
  return Octokit.defaults({
    ...(config.apiUrl ? { baseUrl: config.apiUrl.replace(/\/+$/, '') } : {}),
    userAgent: 'airlock',
    // `false`: do not wait inside the process; the activity is retried after the delay (see the module comment).
    throttle: { onRateLimit: () => false, onSecondaryRateLimit: () => false, ...groups },
    retry: { retries: 2 },
    log: { debug: quiet, info: quiet, warn: log?.warn ?? quiet, error: log?.error ?? quiet },
  }) as typeof Octokit;
}

/** Clients for every repository the App is installed on, or the token may reach. */
export function createGithubClients(config: GithubConfig, log?: GithubLog): GithubClients {
  const Client = octokitClass(config, log);
  if (config.token) {
    const octokit = new Client({ auth: config.token });
    return { forRepo: async (repo) => (splitRepo(repo), octokit) };
  }
  if (!config.app) throw new Error('GitHub is configured with neither an App nor a token');
  const app = new App({ appId: config.app.id, privateKey: config.app.privateKey, Octokit: Client });
  const installations = new Map<string, Promise<Octokit>>();
  return {
    forRepo(repo) {
      const key = repo.toLowerCase();
      let client = installations.get(key);
      if (!client) {
        client = (async () => {
          const { data } = await app.octokit.rest.apps.getRepoInstallation(splitRepo(repo));
          return (await app.getInstallationOctokit(data.id)) as unknown as Octokit;
        })();
        // A failed lookup (the App not yet installed, GitHub down) is asked again next time.
        client.catch(() => installations.delete(key));
        installations.set(key, client);
      }
      return client;
    },
  };
}
