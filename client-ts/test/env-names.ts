/** The environment the tests run in: where the SDK copy, the local stack and the vectors are. */
export interface TestEnv {
  sdkDir: string;
  baseUrl: string;
  awsEndpoint: string;
  secretArn: string;
  signingKey: string;
  revocation: string;
  vectors: string;
}

export const ENV_NAMES: Readonly<Record<keyof TestEnv, string>> = {
  sdkDir: 'SIGNALWIRE_SDK_DIR',
  baseUrl: 'SWAIG_TEST_BASE_URL',
  awsEndpoint: 'SWAIG_TEST_AWS_ENDPOINT',
  secretArn: 'SWAIG_TEST_SECRET_ARN',
  signingKey: 'SWAIG_TEST_SIGNING_KEY',
  revocation: 'SWAIG_TEST_REVOCATION',
  vectors: 'SWAIG_TEST_VECTORS',
};

declare module 'vitest' {
  export interface ProvidedContext {
    env: TestEnv;
  }
}
