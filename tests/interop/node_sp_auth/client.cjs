// node-sp-auth as its users run it: getAuth() for on-premises add-in-only (high-trust)
// credentials, then each path requested with the headers it returned (as sp-request does).
// Input: one JSON argument {siteUrl, credentials, paths}. Output: JSON on stdout.
'use strict';
const spauth = require('node-sp-auth');

async function main() {
  const { siteUrl, credentials, paths } = JSON.parse(process.argv[2]);
  const auth = await spauth.getAuth(siteUrl, credentials);
  const statuses = {};
  for (const path of paths) {
    const response = await fetch(new URL(path, siteUrl), { headers: auth.headers });
    statuses[path] = { status: response.status, challenge: response.headers.get('www-authenticate') };
  }
  process.stdout.write(JSON.stringify({ authorization: auth.headers.Authorization, statuses }));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
