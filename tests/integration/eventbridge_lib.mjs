// Shared by the EventBridge integration tests: VEBA's aws_event_bridge config against the fake
// endpoint (tests/peers/eventbridge_fake.mjs), and the router around it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {
  makeTmpDir, metricsProviderYaml, metricValue, parsePrometheus, readDeadLetters, SOURCE_DIR, startYamlStack, webhookProviderYaml,
} from './lib.mjs';

export const KEY_ID = 'AKIAEVENTROUTERTEST1';
export const SECRET = 'eventbridge/secret+key/0123456789abcdefXYZ';
export const RULE = 'arn:aws:events:us-west-1:123456789012:rule/vmware-event-router';

// The rule VEBA's config names, as ListRules lists it: a pattern every test event matches.
export const ALL_EVENTS_RULE = { Name: 'vmware-event-router', Arn: RULE, EventPattern: '{"source":[{"prefix":""}]}', State: 'ENABLED', EventBusName: 'default' };

export function vebaConfig({ webhookPort, metricsPort, deadLetterDir, endpoint, auth, delivery, extra = '' }) {
  // VEBA's aws_event_bridge processor block, unchanged but for the endpoint extension.
  return `apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: router-config-aws
${webhookProviderYaml(webhookPort)}
eventProcessor:
  type: aws_event_bridge
  name: veba-demo-aws-eventbridge
  awsEventBridge:
    eventBus: default
    region: us-west-1
    ruleARN: ${RULE}
    endpoint: ${endpoint}
${extra}${auth}
${metricsProviderYaml(metricsPort)}
deadLetter:
  dir: ${deadLetterDir}
delivery:
  timeout: 5s
  connectTimeout: 2s
  retries: ${delivery?.retries ?? 10}
  backoffInitial: 20ms
  backoffMax: 200ms
`;
}

export const staticAuth = (secret = SECRET) => `    auth:
      type: aws_access_key
      awsAccessKeyAuth:
        accessKey: ${KEY_ID}
        secretKey: ${secret}`;

export async function startStack({ fake, auth = staticAuth(), env, delivery, extra, waitReady = true } = {}) {
  const stack = await startYamlStack(({ webhookPort, metricsPort, deadLetterDir }) => vebaConfig({ webhookPort, metricsPort, deadLetterDir, endpoint: fake.url, auth, delivery, extra }), { env, until: waitReady ? 'ready' : 'up' });
  return { ...stack, deadLetters: () => readDeadLetters(path.join(stack.deadLetterDir, 'veba-demo-aws-eventbridge.jsonl')) };
}


/** The router's /metrics, parsed; value(name) sums a family, sample(name, labels) finds one. */
export async function scrape(metricsUrl) {
  const parsed = parsePrometheus(await (await fetch(`${metricsUrl}/metrics`)).text());
  return {
    parsed,
    value: (name) => metricValue(parsed, name),
    sample: (name, labels = {}) => parsed.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value,
  };
}

/** Starts the AWS credential fakes (tests/peers/aws_credential_fakes.mjs: STS and the others) as a
 * child process. Returns {url, stats(), issued(accessKeyId), kill()}; issued is the EventBridge
 * fake's keyLookup: the secret and session token STS handed out with that key id. */
export async function startCredentialFake() {
  const child = spawn(process.execPath, [path.join(SOURCE_DIR, 'tests/peers/aws_credential_fakes.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
  const url = `http://127.0.0.1:${first.value.trim()}`;
  const stats = async () => (await fetch(`${url}/__stats`)).json();
  return {
    url,
    stats,
    async issued(id) {
      const c = (await stats()).issued.find((x) => x.accessKeyId === id);
      return c && { secret: c.secretAccessKey, token: c.sessionToken };
    },
    kill: () => child.kill(),
  };
}

/** The environment that makes aws_iam_role take web identity credentials from STS at
 * credentialUrl (a token file written in a new temporary folder), and nothing else. */
export function webIdentityEnv(credentialUrl) {
  const dir = makeTmpDir();
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.fake-web-identity-token.sig\n');
  return {
    AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/veba-eventbridge',
    AWS_ENDPOINT_URL_STS: `${credentialUrl}/`,
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
