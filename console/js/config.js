// config.json beside the console: {"api_url", "region", "user_pool_client_id", "cognito_endpoint"}.
// Locally the stack writes it (Cognito is the emulator); on AWS `make deploy-storefront` does.

let loaded = null;

function clean(value) {
  return typeof value === 'string' ? value.trim().replace(/\/+$/, '') : '';
}

export function config() {
  if (loaded === null) {
    loaded = fetch('/console/config.json', { cache: 'no-cache', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}))
      .then((raw) => {
        const api = clean(raw?.api_url);
        const region = clean(raw?.region);
        const endpoint = clean(raw?.cognito_endpoint) || (region ? `https://cognito-idp.${region}.amazonaws.com` : '');
        return {
          apiUrl: /^https?:\/\/[^/]+/.test(api) ? api : '',
          region,
          clientId: clean(raw?.user_pool_client_id),
          cognitoEndpoint: /^https?:\/\/[^/]+/.test(endpoint) ? endpoint : '',
        };
      });
  }
  return loaded;
}
