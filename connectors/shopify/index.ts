/**
 * The Shopify registry entry: descriptor (plain data) + factory + lazily loaded sandbox harness.
 */
import { type ConnectorDescriptor, defineConnector } from '../contract.js';
import { limitsFor, shopifyConfigSchema } from './config.js';
import { createShopifyConnector } from './connector.js';
import { SHOPIFY_WEBHOOK_HEADERS as H } from './webhook.js';

export const shopifyDescriptor: ConnectorDescriptor<typeof shopifyConfigSchema> = {
  id: 'shopify',
  displayName: 'Shopify',
  configSchema: shopifyConfigSchema,
  webhook: {
    signatureHeader: H.signature,
    topicHeader: H.topic,
    deliveryIdHeader: H.webhookId,
    eventIdHeader: H.eventId,
    shopHeader: H.shop,
    timestampHeader: H.triggeredAt,
    signature: 'base64 HMAC-SHA256 of the raw body, key = app client secret',
    ack: { status: 200 },
    replyWithinMs: 5000,
  },
  limits: limitsFor('standard'),
  capabilities: { compareAndSet: true, readStock: true, fullOrderWebhooks: true, incrementalStock: false },
};

export const shopify = defineConnector({
  descriptor: shopifyDescriptor,
  create: createShopifyConnector,
  sandbox: async () => (await import('./sandbox-harness.js')).harness,
});
