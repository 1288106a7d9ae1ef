// panva's oauth4webapi, a strict, spec-by-spec OAuth 2 client library, judges the served lab:
// its authorization server (RFC 8414 discovery, RFC 7591 registration, the code grant with PKCE,
// RFC 8707 `resource` and RFC 9207 `iss`, refresh, RFC 7009 revocation, RFC 7662 introspection,
// client credentials with a secret and with private_key_jwt) and, as a resource server would
// judge them, its access tokens (RFC 9068). tests/test_oauth4webapi_judge.py runs it.
//
// argv[2] is a JSON configuration (below). Each step is one JSON line on stdout:
//   {"step": name, "ok": true, "detail": {...}}  or  {"step": name, "ok": false, "error": {...}}.
// The user's part of the code grant is the caller's: the judge prints
//   {"ask": "authorize", "url": <authorization request>, "decision": "approve" | "deny"}
// and reads the redirect back to its redirect URI (one line) from stdin.
//
// No `allowInsecureRequests`: the lab serves https from its local CA (NODE_EXTRA_CA_CERTS).

import { webcrypto } from 'node:crypto'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const config = JSON.parse(process.argv[2])
// { library: oauth4webapi's build/index.js, mcpUrl, issuer, redirectUri, cimdClientId,
//   introspector: {clientId, clientSecret}, service: {clientId, privateJwk}, flows?: [...] }
const oauth = await import(pathToFileURL(config.library).href)
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

const emit = (record) => process.stdout.write(JSON.stringify(record) + '\n')

async function describe(error) {
  // oauth4webapi's errors: OperationProcessingError (code: OAUTH_*), ResponseBodyError (error,
  // error_description, status), AuthorizationResponseError, WWWAuthenticateChallengeError (the
  // challenges, and the body it did not read).
  const described = { name: error?.name, message: error?.message, code: error?.code }
  if (error instanceof oauth.ResponseBodyError || error instanceof oauth.AuthorizationResponseError) {
    Object.assign(described, { error: error.error, error_description: error.error_description, status: error.status })
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const body = await error.response.text().catch(() => null)
    Object.assign(described, { challenges: error.cause, status: error.response.status, body })
  }
  return described
}

class Halt extends Error {}

// One step: its detail on success; on failure the error, and the rest of its flow is not run.
async function step(name, run) {
  let detail
  try {
    detail = await run()
  } catch (error) {
    emit({ step: name, ok: false, error: await describe(error) })
    throw new Halt(name)
  }
  emit({ step: name, ok: true, detail: detail ?? {} })
  return detail
}

// A step that passes when oauth4webapi refuses with exactly this error.
async function refusedStep(name, run, check) {
  return step(name, async () => {
    try {
      await run()
    } catch (error) {
      const described = await describe(error)
      if (check(error)) return described
      throw error
    }
    throw new Error('oauth4webapi accepted what it must refuse')
  })
}

// The flows to run (config.flows, default all; discovery always runs): one flow that fails stops
// there, and the next one still runs.
const flows = new Set(config.flows ?? ['dcr', 'cimd', 'secret', 'private-key-jwt'])

async function flow(name, run) {
  if (name !== 'discovery' && !flows.has(name)) return
  try {
    await run()
  } catch (error) {
    if (!(error instanceof Halt)) emit({ step: 'judge', ok: false, error: await describe(error) })
  }
}

const resource = { additionalParameters: { resource: config.mcpUrl } }
let as, prm // the AS's metadata and the MCP server's, once discovered

// validateJwtAccessToken, as the MCP server would judge a request bearing the token (RFC 6750 §2.1).
async function judgeToken(token) {
  const request = new Request(config.mcpUrl, { headers: { authorization: `Bearer ${token}` } })
  const claims = await oauth.validateJwtAccessToken(as, request, config.mcpUrl)
  return { claims, header: JSON.parse(Buffer.from(token.split('.')[0], 'base64url')) }
}

// The user approves in the caller's browser; back comes the redirect to our redirect URI.
async function authorize(as, client, scope, state, codeChallenge, decision = 'approve') {
  const url = new URL(as.authorization_endpoint)
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: config.redirectUri, scope, state,
    code_challenge: codeChallenge, code_challenge_method: 'S256', resource: config.mcpUrl,
  }).toString()
  emit({ ask: 'authorize', url: url.href, decision })
  const { value, done } = await stdin.next()
  if (done) throw new Error('no redirect came back on stdin')
  return new URL(value.trim())
}

// The code grant of RFC 6749 §4.1 / OAuth 2.1 §4.1 for a public client, as oauth4webapi runs it.
async function codeGrant(prefix, as, client, scope) {
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const redirect = await authorize(as, client, scope, state, await oauth.calculatePKCECodeChallenge(verifier))
  let validated
  await step(`${prefix}:authorization-response`, () => {
    // RFC 9207 §2.4: `iss` must be there, and be the issuer, as the metadata says it is sent;
    // `state` exactly the one sent.
    validated = oauth.validateAuthResponse(as, client, redirect, state)
    return { parameters: Object.fromEntries(validated) }
  })
  const tokens = await step(`${prefix}:token`, async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), validated, config.redirectUri, verifier, resource)
    return { body: await oauth.processAuthorizationCodeResponse(as, client, response) }
  })
  await step(`${prefix}:access-token`, () => judgeToken(tokens.body.access_token))
  return tokens.body
}

// Discovery: MCP's path (the MCP server's 401 challenge points to its RFC 9728 metadata, which
// names the AS), RFC 9728's well-known URL, and RFC 8414 / OpenID discovery on the issuer.
await flow('discovery', async () => {
  const challenge = await refusedStep('resource-challenge', async () => {
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {
      protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'oauth4webapi judge', version: '1' } } }
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    await oauth.protectedResourceRequest('not-a-token', 'POST', new URL(config.mcpUrl), headers, JSON.stringify(initialize))
  }, (error) => error instanceof oauth.WWWAuthenticateChallengeError)
  await step('resource-metadata-from-challenge', async () => {
    // RFC 9728 §5.1: resource_metadata in the challenge; oauth4webapi takes a plain fetch of it.
    const bearer = challenge.challenges.find((c) => c.scheme === 'bearer')
    const response = await fetch(bearer.parameters.resource_metadata)
    return oauth.processResourceDiscoveryResponse(new URL(config.mcpUrl), response)
  })
  prm = await step('resource-metadata', async () => {
    const response = await oauth.resourceDiscoveryRequest(new URL(config.mcpUrl))
    return oauth.processResourceDiscoveryResponse(new URL(config.mcpUrl), response)
  })
  as = await step('as-metadata', async () => {
    const issuer = new URL(prm.authorization_servers[0])
    return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2' }))
  })
  await step('openid-configuration', async () => {
    const issuer = new URL(config.issuer)
    return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer)) // OIDC's algorithm
  })
})
if (!as) process.exit(0)
const scope = prm.scopes_supported?.[0] ?? 'notes:read'

// A public client by RFC 7591 registration: code grant, refresh, revocation, a wrong verifier.
await flow('dcr', async () => {
  const client = await step('dcr:register', async () => {
    const response = await oauth.dynamicClientRegistrationRequest(as, {
      client_name: 'oauth4webapi judge', redirect_uris: [config.redirectUri], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope,
    })
    return oauth.processDynamicClientRegistrationResponse(response)
  })
  const first = await codeGrant('dcr', as, client, scope)
  await step('dcr:refresh', async () => {
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token, resource)
    const body = await oauth.processRefreshTokenResponse(as, client, response)
    return { body, rotated: body.refresh_token !== first.refresh_token, ...(await judgeToken(body.access_token)) }
  })
  await refusedStep('dcr:refresh-reused', async () => {
    // OAuth 2.1 §4.3.1: a rotated refresh token used again is refused (and its grant revoked).
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token, resource)
    await oauth.processRefreshTokenResponse(as, client, response)
  }, (error) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant')
  // The reuse revoked the grant; a fresh one for revocation.
  const second = await codeGrant('dcr-again', as, client, scope)
  await step('dcr:revoke', async () => {
    const response = await oauth.revocationRequest(as, client, oauth.None(), second.refresh_token)
    return { result: await oauth.processRevocationResponse(response) ?? null, status: response.status }
  })
  await refusedStep('dcr:refresh-revoked', async () => {
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), second.refresh_token, resource)
    await oauth.processRefreshTokenResponse(as, client, response)
  }, (error) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant')
  await refusedStep('dcr:wrong-verifier', async () => {
    // RFC 7636 §4.6: the AS compares the verifier with the challenge; a mismatch is invalid_grant.
    const state = oauth.generateRandomState()
    const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier())
    const redirect = await authorize(as, client, scope, state, challenge)
    const params = oauth.validateAuthResponse(as, client, redirect, state)
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), params, config.redirectUri, oauth.generateRandomCodeVerifier(), resource)
    await oauth.processAuthorizationCodeResponse(as, client, response)
  }, (error) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant' && error.status === 400)
  await refusedStep('dcr:denied', async () => {
    // RFC 9207 §2: `iss` on error responses too; validateAuthResponse checks iss and state first.
    const state = oauth.generateRandomState()
    const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier())
    oauth.validateAuthResponse(as, client, await authorize(as, client, scope, state, challenge, 'deny'), state)
  }, (error) => error instanceof oauth.AuthorizationResponseError && error.error === 'access_denied')
})

// A CIMD client: its client_id is the https URL of its metadata document.
await flow('cimd', async () => {
  const client = { client_id: config.cimdClientId, token_endpoint_auth_method: 'none' }
  const tokens = await codeGrant('cimd', as, client, scope)
  // RFC 7662: the AS's administrator authorised this resource server to introspect.
  const introspector = { client_id: config.introspector.clientId }
  const auth = oauth.ClientSecretBasic(config.introspector.clientSecret)
  const introspect = async (token) => {
    const response = await oauth.introspectionRequest(as, introspector, auth, token)
    return oauth.processIntrospectionResponse(as, introspector, response)
  }
  await step('cimd:introspect-active', () => introspect(tokens.access_token))
  await step('cimd:revoke-access-token', async () => {
    const response = await oauth.revocationRequest(as, client, oauth.None(), tokens.access_token)
    return { result: await oauth.processRevocationResponse(response) ?? null, status: response.status }
  })
  await step('cimd:introspect-revoked', () => introspect(tokens.access_token))
})

// Client credentials (OAuth 2.1 §4.2): a confidential client registered by RFC 7591 with a
// secret (client_secret_basic), and a CIMD client authenticating with private_key_jwt (RFC 7523).
await flow('secret', async () => {
  const client = await step('secret:register', async () => {
    const response = await oauth.dynamicClientRegistrationRequest(as, {
      // RFC 7591 §2: no redirect-based flow, so no redirect_uris, and response_types [] (omitted
      // would mean ["code"]).
      client_name: 'oauth4webapi judge (service)', grant_types: ['client_credentials'], response_types: [],
      token_endpoint_auth_method: 'client_secret_basic', scope,
    })
    return oauth.processDynamicClientRegistrationResponse(response)
  })
  await step('secret:client-credentials', async () => {
    const auth = oauth.ClientSecretBasic(client.client_secret)
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope, resource: config.mcpUrl })
    const body = await oauth.processClientCredentialsResponse(as, client, response)
    return { body, ...(await judgeToken(body.access_token)) }
  })
  await refusedStep('secret:wrong-secret', async () => {
    // RFC 6749 §5.2: a client that authenticated in the Authorization header gets 401 and a
    // WWW-Authenticate challenge of its scheme; oauth4webapi reports the challenge first.
    const auth = oauth.ClientSecretBasic('not-the-secret')
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope, resource: config.mcpUrl })
    await oauth.processClientCredentialsResponse(as, client, response)
  }, (error) => error instanceof oauth.WWWAuthenticateChallengeError && error.response.status === 401)
})
await flow('private-key-jwt', async () => {
  const client = { client_id: config.service.clientId, token_endpoint_auth_method: 'private_key_jwt' }
  const key = await webcrypto.subtle.importKey('jwk', config.service.privateJwk, { name: 'Ed25519' }, false, ['sign'])
  await step('private-key-jwt:client-credentials', async () => {
    const auth = oauth.PrivateKeyJwt({ key, kid: config.service.privateJwk.kid })
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope, resource: config.mcpUrl })
    const body = await oauth.processClientCredentialsResponse(as, client, response)
    return { body, ...(await judgeToken(body.access_token)) }
  })
})
emit({ step: 'end', ok: true }) // the judge ran to its end
process.exit(0)
