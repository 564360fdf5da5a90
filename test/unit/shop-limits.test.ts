/**
 * A shop's `rateLimit` (its request quota) over the connector's default limits: what the shop's
 * gate and pusher are built from.
 */
import { describe, expect, it } from 'vitest';
import { TAOBAO_LIMITS } from '../../connectors/taobao/config.js';
import { createLogger } from '../../src/log.js';
import { requestsPerRound } from '../../src/sync/push-batches.js';
import { createShopConnectors, shopLimits } from '../../src/sync/shop-connectors.js';

describe('shopLimits', () => {
  it('keeps the defaults without a quota, and sets what the quota names', () => {
    expect(shopLimits(TAOBAO_LIMITS, undefined)).toEqual(TAOBAO_LIMITS);
    expect(shopLimits(TAOBAO_LIMITS, { requestsPerSecond: 80 })).toEqual({
      ...TAOBAO_LIMITS,
      intervalCap: 80,
      intervalMs: 1000,
    });
    expect(shopLimits({ ...TAOBAO_LIMITS, intervalMs: 60_000 }, { concurrency: 6 })).toEqual({
      ...TAOBAO_LIMITS,
      intervalMs: 60_000,
      concurrency: 6,
    });
  });

  it("a shop's connector carries its limits: the pusher's round follows the quota", () => {
    const shop = {
      platform: 'taobao' as const,
      warehouses: ['SH'],
      reserveOn: 'paid' as const,
      restockOn: 'receipt' as const,
      matchOuterId: true,
      connector: {
        sellerNick: 'seller',
        appKey: 'k',
        appSecret: 's',
        session: 't',
        relaySecret: 'relay-secret-0123456789',
      },
    };
    const shops = createShopConnectors(
      [
        { ...shop, id: 'default' },
        { ...shop, id: 'quota', rateLimit: { requestsPerSecond: 100, concurrency: 4 } },
      ],
      createLogger({ level: 'silent', pretty: false }),
      { now: () => new Date() },
    );
    expect(shops.get('default')!.limits).toEqual(TAOBAO_LIMITS);
    expect(shops.get('quota')!.limits).toMatchObject({ intervalCap: 100, concurrency: 4 });
    expect(requestsPerRound(shops.get('default')!.limits)).toBe(20);
    expect(requestsPerRound(shops.get('quota')!.limits)).toBe(200);
  });
});
