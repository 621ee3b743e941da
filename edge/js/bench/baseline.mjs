// The baseline: a viewer-request handler in the shape of AWS's Lambda@Edge JWT sample, using
// aws-jwt-verify (RS256 against the issuer's JWKS). The JWKS is fetched over plain HTTP here
// (the benchmark's issuer is on loopback), so the library's HTTPS-only fetcher is replaced by
// the same `http.get` our host uses; everything else is the library's default path.
import { JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { get } from './http.mjs';

const verifier = JwtRsaVerifier.create(
  {
    issuer: process.env.ISSUER,
    audience: process.env.AUDIENCE,
    jwksUri: `${process.env.ISSUER}/.well-known/jwks.json`,
  },
  { jwksCache: new SimpleJwksCache({ fetcher: { fetch: get } }) },
);

export const handler = async (event) => {
  const request = event.Records[0].cf.request;
  const auth = request.headers.authorization?.[0]?.value ?? '';
  try {
    await verifier.verify(auth.replace(/^Bearer /i, ''));
    return request;
  } catch (e) {
    if (process.env.BENCH_DEBUG) console.error(e);
    return {
      status: '401',
      statusDescription: 'Unauthorized',
      headers: { 'www-authenticate': [{ key: 'WWW-Authenticate', value: 'Bearer error="invalid_token"' }] },
    };
  }
};
