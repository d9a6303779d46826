// The console's client of the HTTP API: DVID's public endpoints plus /api/console/ helpers.
// Reads need nothing; writes send the token the user gave (kept for this browser tab only).

const TOKEN_KEY = 'dvidctl-console-token';

export class ApiError extends Error {
  constructor(status, text, path) {
    super(`${status}: ${text.trim() || 'request failed'}`);
    this.status = status;
    this.path = path;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function check(response, path) {
  if (!response.ok) throw new ApiError(response.status, await response.text(), path);
  return response;
}

export async function get(path, init = {}) {
  return check(await fetch(path, init), path);
}

export async function getJSON(path) {
  return (await get(path)).json();
}

export async function getBytes(path, init = {}) {
  return (await get(path, init)).arrayBuffer();
}

/** POST JSON with the user's token; returns the parsed answer (or null for an empty one). */
export async function postJSON(path, body, tokenValue = token()) {
  const headers = { 'Content-Type': 'application/json' };
  if (tokenValue) headers.Authorization = `Bearer ${tokenValue}`;
  const r = await check(
    await fetch(path, { method: 'POST', headers, body: JSON.stringify(body ?? {}) }),
    path,
  );
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

/** /api/node/{uuid}/{name}/{rest} with the instance name escaped. */
export function nodeUrl(uuid, name, rest = '') {
  return `/api/node/${uuid}/${encodeURIComponent(name)}${rest ? `/${rest}` : ''}`;
}

/** Every served repository's JSON (DVID's /api/repos/info), by root UUID. */
export const reposInfo = () => getJSON('/api/repos/info');

/** The repository (and its JSON) holding a node UUID, or null. */
export async function repoOfNode(uuid) {
  const repos = await reposInfo();
  for (const info of Object.values(repos)) {
    if (info.DAG && info.DAG.Nodes && info.DAG.Nodes[uuid]) return info;
  }
  return null;
}

export const consoleServer = () => getJSON('/api/console/server');
export const repoRefs = (uuid) => getJSON(`/api/console/repo/${uuid}/refs`);
