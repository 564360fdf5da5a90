/**
 * Every marketplace the daemon can connect, by registry id. The core reaches connectors only
 * through this list.
 *
 * Adding a platform: create `connectors/<platform>/` with an `index.ts` exporting
 * `defineConnector({ descriptor, create, sandbox })`, then add its import and one entry below.
 * The contract tests (`connectors/contract.test.ts`) pick it up automatically.
 */
import type { RegisteredConnector } from './contract.js';
import { douyin } from './douyin/index.js';
import { jd } from './jd/index.js';
import { pinduoduo } from './pinduoduo/index.js';
import { shopify } from './shopify/index.js';
import { taobao } from './taobao/index.js';
import { woocommerce } from './woocommerce/index.js';

export const connectors: readonly RegisteredConnector[] = [
  shopify,
  taobao,
  douyin,
  pinduoduo,
  woocommerce,
  jd,
];

/** The entry with this id, or undefined. */
export function findConnector(id: string): RegisteredConnector | undefined {
  return connectors.find((c) => c.descriptor.id === id);
}

/** The entry with this id; throws a RangeError listing the known ids otherwise. */
export function getConnector(id: string): RegisteredConnector {
  const found = findConnector(id);
  if (!found) {
    throw new RangeError(
      `unknown connector ${JSON.stringify(id)}; known: ${connectors.map((c) => c.descriptor.id).join(', ')}`,
    );
  }
  return found;
}
