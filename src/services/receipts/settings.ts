import { ConfigError, type VariableDoc } from '../../platform/config.ts';

/** The receipts service's PAYSTREAM_* settings (loadConfig accepts them; start() reads them). */
export const receiptsVariables: readonly VariableDoc[] = [
  {
    name: 'PAYSTREAM_SMTP_URL',
    default: '(unset: local sink)',
    description:
      'smtp://host:port or smtps://host:port (user:password@ for AUTH) of the server receipts are sent to; unset runs the local SMTP sink.',
  },
  {
    name: 'PAYSTREAM_SMTP_SINK_PORT',
    default: '2525',
    description: 'Port of the local SMTP sink on 127.0.0.1 (0: any free port).',
  },
  {
    name: 'PAYSTREAM_RECEIPTS_FROM',
    default: 'receipts@paystream.local',
    description: 'The From of receipts.',
  },
  {
    name: 'PAYSTREAM_RECEIPTS_LOCALE',
    default: 'en-US',
    description: 'BCP 47 locale receipts write amounts and dates in.',
  },
];

export interface ReceiptsSettings {
  /** undefined: run the local SMTP sink and send there. */
  smtpUrl: string | undefined;
  sinkPort: number;
  from: string;
  locale: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const fromPattern = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}$/;

/** The settings from `env`; a bad value throws ConfigError naming the variable. */
export function receiptsSettings(env: Env): ReceiptsSettings {
  const rawUrl = env['PAYSTREAM_SMTP_URL'] || undefined;
  if (rawUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new ConfigError(`PAYSTREAM_SMTP_URL must be a URL (got "${rawUrl}")`);
    }
    if (!['smtp:', 'smtps:'].includes(url.protocol) || !url.hostname) {
      throw new ConfigError(
        `PAYSTREAM_SMTP_URL must be smtp://host:port or smtps://host:port (got "${rawUrl}")`,
      );
    }
  }
  const rawPort = env['PAYSTREAM_SMTP_SINK_PORT'] || '2525';
  const sinkPort = Number(rawPort);
  if (!/^\d{1,5}$/.test(rawPort) || sinkPort > 65_535) {
    throw new ConfigError(`PAYSTREAM_SMTP_SINK_PORT must be a port, 0 to 65535 (got "${rawPort}")`);
  }
  const from = env['PAYSTREAM_RECEIPTS_FROM'] || 'receipts@paystream.local';
  if (!fromPattern.test(from)) {
    throw new ConfigError(`PAYSTREAM_RECEIPTS_FROM must be an email address (got "${from}")`);
  }
  const rawLocale = env['PAYSTREAM_RECEIPTS_LOCALE'] || 'en-US';
  let locale: string;
  try {
    [locale] = Intl.getCanonicalLocales(rawLocale) as [string];
  } catch {
    throw new ConfigError(
      `PAYSTREAM_RECEIPTS_LOCALE must be a BCP 47 locale such as en-US (got "${rawLocale}")`,
    );
  }
  return { smtpUrl: rawUrl, sinkPort, from, locale };
}
