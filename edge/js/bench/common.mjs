// Shared by the benchmark's processes: the request both handlers answer.
export const DATASTORE = '0123456789abcdef0123456789abcdef';

export function event(token) {
  return {
    Records: [{ cf: {
      config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'E1', eventType: 'viewer-request', requestId: 'r' },
      request: {
        clientIp: '203.0.113.9',
        method: 'GET',
        uri: `/datastore/${DATASTORE}/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5/frames/1`,
        querystring: '',
        headers: {
          authorization: [{ key: 'Authorization', value: `Bearer ${token}` }],
          accept: [{ key: 'Accept', value: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' }],
        },
      },
    } }],
  };
}
