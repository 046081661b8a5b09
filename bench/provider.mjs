// The benchmark's provider: tests/support/provider.py's token endpoint and platform pages, in Node.
//
// Why a second one: the Python stand-in spends more CPU on a request than tokensync does, and on
// two cores that CPU is taken from the client being measured. Both tokensync and the bare client
// then wait on the stand-in, and their ratio says more about the stand-in than about them. This
// one answers the same requests with the same JSON documents (tests/process/test_bench_provider.py
// compares them), for a fraction of the CPU.
//
//   node bench/provider.mjs --port 0 --delay 0.1 [--page-size 50] [--guilds 5] [--no-rotate]
//
// prints one JSON line with its URL, then serves until SIGTERM.
import http from "node:http";

const CLIENT_ID = "bench-client";
const CLIENT_SECRET = "bench-secret";
const SPOTIFY = "https://api.spotify.com/v1";
const GITHUB = "https://api.github.com";
const GITHUB_PER_PAGE = 30;
const GITHUB_MAX_PER_PAGE = 100;
const GITHUB_REPOS = 10;

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : process.argv[at + 1];
}
const delayMs = Number(option("--delay", "0.1")) * 1000;
const pageSize = Number(option("--page-size", "50"));
const guildsPerUser = Number(option("--guilds", "5"));
const rotate = !process.argv.includes("--no-rotate");
const expiresIn = Number(option("--expires-in", "3600"));

const stats = {
  requests: 0, refreshes: 0, invalid_grant: 0, invalid_client: 0, reused_tokens: 0,
  revoked_grants: 0, failures_injected: 0, in_flight: 0, max_in_flight: 0, api_requests: 0,
  api_unauthorized: 0, api_failures_injected: 0, not_modified: 0,
};
const current = new Map(); // refresh token -> grant id
const spent = new Map();
const revoked = new Set();
let issued = 0;

// -- the platforms' shapes (tests/support/payloads.py) -------------------------------------

const hex = (n, width = 0) => n.toString(16).padStart(width, "0");
const pad = (n, width) => String(n).padStart(width, "0");

function spotifyArtist() {
  return {
    external_urls: { spotify: "https://open.spotify.com/artist/a1" },
    href: `${SPOTIFY}/artists/a1`, id: "a1", name: "Artist", type: "artist",
    uri: "spotify:artist:a1",
  };
}

function spotifyTrack(n) {
  const trackId = `4iV5W9uYEdYUVa79Axb7R${hex(n)}`;
  return {
    album: {
      album_type: "album", total_tracks: 12, available_markets: ["GB", "US"],
      external_urls: { spotify: `https://open.spotify.com/album/alb${n}` },
      href: `${SPOTIFY}/albums/alb${n}`, id: `alb${n}`, images: [], name: `Album ${n}`,
      release_date: "2021-06-04", release_date_precision: "day", type: "album",
      uri: `spotify:album:alb${n}`, artists: [spotifyArtist()],
    },
    artists: [spotifyArtist()],
    available_markets: ["GB", "US"], disc_number: 1, duration_ms: 215000 + n, explicit: false,
    external_ids: { isrc: `USUM7210${pad(n, 4)}` },
    external_urls: { spotify: `https://open.spotify.com/track/${trackId}` },
    href: `${SPOTIFY}/tracks/${trackId}`, id: trackId, is_playable: true, name: `Track ${n}`,
    popularity: 50, preview_url: null, track_number: (n % 12) + 1, type: "track",
    uri: `spotify:track:${trackId}`, is_local: false,
  };
}

function recentlyPlayed(user) {
  const plays = [];
  for (let i = 0; i < pageSize; i++) {
    plays.push([user * 100 + i, `2026-11-28T${pad(Math.floor(i / 60), 2)}:${pad(i % 60, 2)}:00.000Z`]);
  }
  return {
    href: `${SPOTIFY}/me/player/recently-played?limit=50`, limit: 50, next: null,
    cursors: plays.length ? { after: String(1764288000000 + user), before: "1700000000000" } : null,
    total: plays.length,
    items: plays.map(([n, playedAt]) => ({
      track: spotifyTrack(n), played_at: playedAt,
      context: {
        type: "playlist", href: `${SPOTIFY}/playlists/p1`,
        external_urls: { spotify: "https://open.spotify.com/playlist/p1" },
        uri: "spotify:playlist:p1",
      },
    })),
  };
}

function topTracks(user) {
  const items = [];
  for (let i = 0; i < pageSize; i++) items.push(spotifyTrack(user * 100 + i));
  return {
    href: `${SPOTIFY}/me/top/tracks?offset=0&limit=50`, limit: 50, offset: 0, total: items.length,
    previous: null, next: null, items,
  };
}

function githubUser(login) {
  return {
    login, id: 583231, node_id: "MDQ6VXNlcjU4MzIzMQ==", type: "User", site_admin: false,
    name: "The Octocat", public_repos: 8, html_url: `https://github.com/${login}`,
    created_at: "2011-01-25T18:44:36Z",
  };
}

function githubEvent(n, login) {
  return {
    id: String(40000000000 + n), type: "PushEvent", public: true,
    created_at: `2026-11-28T1${n % 10}:00:00Z`,
    actor: {
      id: 583231, login, display_login: login, url: `${GITHUB}/users/${login}`,
      avatar_url: "https://avatars.githubusercontent.com/u/583231",
    },
    repo: { id: 1296269, name: `${login}/Hello-World`, url: `${GITHUB}/repos/${login}/Hello-World` },
    payload: {
      push_id: 10115855396 + n, size: 1, ref: "refs/heads/main", head: hex(n, 40),
      before: hex(n + 1, 40),
    },
  };
}

function githubRepo(n, login) {
  return {
    id: 1296269 + n, node_id: `MDEwOlJlcG9zaXRvcnkx${n}`, name: `repo-${n}`,
    full_name: `${login}/repo-${n}`, private: false, owner: { login, id: 583231 },
    html_url: `https://github.com/${login}/repo-${n}`, fork: false, stargazers_count: 80,
    updated_at: "2026-11-27T10:00:00Z",
  };
}

function discordGuild(n) {
  return {
    id: String(197038439483310086n + BigInt(n)), name: `Guild ${n}`, icon: null, owner: n === 0,
    permissions: "2147483647", features: ["COMMUNITY"], approximate_member_count: null,
    approximate_presence_count: null,
  };
}

// GitHub's pages: the indices `url` asks for (per_page, page) and the Link header of the rest.
function githubPage(url, total) {
  let perPage = Number.parseInt(url.searchParams.get("per_page") ?? GITHUB_PER_PAGE, 10);
  let page = Number.parseInt(url.searchParams.get("page") ?? "1", 10);
  if (Number.isNaN(perPage) || Number.isNaN(page)) [perPage, page] = [GITHUB_PER_PAGE, 1];
  perPage = Math.min(Math.max(perPage, 1), GITHUB_MAX_PER_PAGE);
  page = Math.max(page, 1);
  const last = Math.max(1, Math.ceil(total / perPage));
  const links = [["prev", page - 1], ["next", page + 1], ["last", last], ["first", 1]]
    .filter(([rel]) => (rel === "prev" || rel === "first" ? page > 1 : page < last))
    .map(([rel, number]) => {
      const target = new URL(url);
      target.searchParams.set("per_page", String(perPage));
      target.searchParams.set("page", String(number));
      return `<${target}>; rel="${rel}"`;
    });
  const start = (page - 1) * perPage;
  const indices = [];
  for (let i = start; i < Math.min(total, start + perPage); i++) indices.push(i);
  return [indices, links.length ? links.join(", ") : null, start];
}

// -- the server ------------------------------------------------------------------------------

function send(response, status, body, headers = {}) {
  const text = body === undefined ? "" : JSON.stringify(body);
  const type = body === undefined ? {} : { "Content-Type": "application/json; charset=utf-8" };
  response.writeHead(status, { ...type, ...headers });
  response.end(text);
}

function readBody(request) {
  return new Promise((resolve) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString()));
  });
}

const later = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function clientOk(request, form) {
  const header = request.headers.authorization ?? "";
  if (header.slice(0, 6).toLowerCase() === "basic ") {
    const pair = Buffer.from(header.slice(6).trim(), "base64").toString();
    const colon = pair.indexOf(":");
    const id = decodeURIComponent(pair.slice(0, colon).replace(/\+/g, " "));
    const secret = decodeURIComponent(pair.slice(colon + 1).replace(/\+/g, " "));
    return id === CLIENT_ID && secret === CLIENT_SECRET;
  }
  return form.get("client_id") === CLIENT_ID && form.get("client_secret") === CLIENT_SECRET;
}

function invalidGrant() {
  stats.invalid_grant += 1;
  return [400, { error: "invalid_grant", error_description: 'Invalid "refresh_token"' }];
}

function exchange(refreshToken) {
  if (spent.has(refreshToken)) {
    // A spent token came back: a real provider revokes the grant.
    const grant = spent.get(refreshToken);
    stats.reused_tokens += 1;
    if (!revoked.has(grant)) {
      revoked.add(grant);
      stats.revoked_grants += 1;
    }
    return invalidGrant();
  }
  const grant = current.get(refreshToken);
  if (grant === undefined || revoked.has(grant)) return invalidGrant();
  issued += 1;
  stats.refreshes += 1;
  const body = {
    access_token: `bench-at-${grant}-${issued}`, token_type: "Bearer", expires_in: expiresIn,
    scope: "identify guilds",
  };
  if (rotate) {
    const fresh = `bench-rt-${grant}-${issued}`;
    current.delete(refreshToken);
    spent.set(refreshToken, grant);
    current.set(fresh, grant);
    body.refresh_token = fresh;
  }
  return [200, body];
}

async function token(request, response) {
  stats.requests += 1;
  stats.in_flight += 1;
  stats.max_in_flight = Math.max(stats.max_in_flight, stats.in_flight);
  try {
    const form = new URLSearchParams(await readBody(request));
    await later(delayMs);
    if (!clientOk(request, form)) {
      stats.invalid_client += 1;
      return send(response, 401, { error: "invalid_client" });
    }
    if (form.get("grant_type") !== "refresh_token") {
      return send(response, 400, { error: "unsupported_grant_type" });
    }
    const [status, body] = exchange(form.get("refresh_token") ?? "");
    return send(response, status, body);
  } finally {
    stats.in_flight -= 1;
  }
}

function userOf(request) {
  const auth = request.headers.authorization ?? "";
  if (!auth.startsWith("Bearer bench-at-")) return null;
  const user = auth.slice("Bearer bench-at-".length).split("-")[0];
  return /^\d+$/.test(user) ? Number(user) : null;
}

const pages = {
  "/discord/api/v10/users/@me/guilds": (url, user) => {
    const guilds = [];
    for (let i = 0; i < guildsPerUser; i++) guilds.push(discordGuild(user * 10 + i));
    return [200, guilds];
  },
  "/spotify/v1/me/player/recently-played": (url, user) => [200, recentlyPlayed(user)],
  "/spotify/v1/me/top/tracks": (url, user) => [200, topTracks(user)],
  "/github/user": (url, user) => [200, githubUser(`user${user}`)],
  "/github/user/repos": (url, user) => {
    const [indices, link] = githubPage(url, GITHUB_REPOS);
    return [200, indices.map((i) => githubRepo(user * 100 + i, `user${user}`)), link ? { Link: link } : {}];
  },
};

function githubEvents(url, user, request) {
  const total = pageSize;
  const [indices, link, start] = githubPage(url, total);
  const headers = { "X-Poll-Interval": "60", ...(link ? { Link: link } : {}) };
  headers.ETag = `W/"events-${user}-${total}-${start}-${indices.length}"`;
  if (request.headers["if-none-match"] === headers.ETag) {
    stats.not_modified += 1;
    return [304, undefined, headers];
  }
  const login = `user${user}`;
  return [200, indices.map((i) => githubEvent(user * 1000 + total - 1 - i, login)), headers];
}

async function api(request, response, url) {
  stats.api_requests += 1;
  await later(delayMs);
  const user = userOf(request);
  if (user === null) {
    stats.api_unauthorized += 1;
    return send(response, 401, { message: "401: Unauthorized", code: 0 });
  }
  const page = pages[url.pathname];
  const [status, body, headers] = page
    ? page(url, user)
    : githubEvents(url, user, request);
  return send(response, status, body, headers);
}

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url, `http://${request.headers.host}`);
  if (request.method === "POST" && url.pathname === "/token") return token(request, response);
  if (request.method === "GET" && url.pathname === "/stats") return send(response, 200, stats);
  if (request.method === "POST" && url.pathname === "/admin/grants") {
    for (const refreshToken of JSON.parse(await readBody(request))) {
      current.set(String(refreshToken), current.size + spent.size + 1);
    }
    return send(response, 200, { grants: current.size });
  }
  if (request.method === "GET" && (pages[url.pathname] || /^\/github\/users\/[^/]+\/events$/.test(url.pathname))) {
    return api(request, response, url);
  }
  return send(response, 404, { message: "Not Found" });
});
server.keepAliveTimeout = 60000;
server.listen(Number(option("--port", "0")), "127.0.0.1", 1024, () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("SIGINT", () => server.close(() => process.exit(0)));
