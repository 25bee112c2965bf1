/** What the console is built from (the composition root hands it over through the API) and what its pages get. */
import type { Client } from '@temporalio/client';
import type { Access } from '../api/access';
import type { AuditStore } from '../audit/store';
import type { Attestor } from '../core/attestation';
import type { FreezeControl } from '../freeze';

export interface ConsoleOptions {
  client: Client;
  audit: AuditStore;
  access: Access;
  freeze: FreezeControl;
  /** Signs console votes as the `console` channel's attestations. */
  attestor: Attestor;
  freezeMode: () => 'pause' | 'abort';
  namespace: string;
  /** The Temporal Web UI, linked from job pages for engineers. */
  temporalUiUrl: string;
  /** Addresses of the authenticating proxy whose identity header is believed. */
  trustedProxies: string[];
  proxyHeader: string;
  /** Encrypts the session cookie (32 bytes); undefined: generated into `dataDir`. */
  sessionKey?: Buffer;
  dataDir: string;
}

/** What every page plugin is handed. */
export type ConsoleDeps = Omit<ConsoleOptions, 'trustedProxies' | 'proxyHeader' | 'sessionKey' | 'dataDir'>;
