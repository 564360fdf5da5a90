/**
 * The WooCommerce registry entry: descriptor (plain data) + factory + lazily loaded sandbox harness.
 */
import { type ConnectorDescriptor, defineConnector } from '../contract.js';
import { WOO_LIMITS, woocommerceConfigSchema } from './config.js';
import { createWooConnector } from './connector.js';
import { WOO_WEBHOOK_HEADERS as H } from './webhook.js';

export const woocommerceDescriptor: ConnectorDescriptor<typeof woocommerceConfigSchema> = {
  id: 'woocommerce',
  displayName: 'WooCommerce',
  configSchema: woocommerceConfigSchema,
  webhook: {
    signatureHeader: H.signature,
    topicHeader: H.topic,
    deliveryIdHeader: H.deliveryId,
    shopHeader: H.source,
    signature: 'base64 HMAC-SHA256 of the raw body, key = the webhook secret',
    ack: { status: 200 },
    // WooCommerce's delivery timeout (http_request_timeout for webhooks) is 5 s [S].
    replyWithinMs: 5000,
  },
  limits: WOO_LIMITS,
  capabilities: { compareAndSet: false, readStock: true, fullOrderWebhooks: true, incrementalStock: false },
};

export const woocommerce = defineConnector({
  descriptor: woocommerceDescriptor,
  create: createWooConnector,
  sandbox: async () => (await import('./sandbox-harness.js')).harness,
});
