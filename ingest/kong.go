package ingest

// Kong's file-log, http-log, tcp-log and udp-log plugins all write the
// output of kong.log.serialize(): one nested object per request. Kong logs
// a consumer only after an authentication plugin accepted the caller, so
// consumer.id is a verified, non-secret identity.
var kongKeys = []jsonKey{
	{"started_at", fTime, rankPrimary}, // epoch milliseconds
	{"client_ip", fRemoteAddr, rankPrimary},

	{"request.method", fMethod, rankPrimary},
	{"request.uri", fTarget, rankPrimary}, // path and query as received
	{"request.url", fURL, rankFallback},   // scheme://host:port/path?query
	{"request.querystring", fQueryObject, rankPrimary},
	{"request.size", fBytesIn, rankPrimary},
	{"request.id", fRequestID, rankPrimary},
	{"request.tls.version", fTLSVersion, rankPrimary},
	{"request.tls.cipher", fIgnore, rankPrimary},
	{"request.tls.client_verify", fIgnore, rankPrimary},
	{"request.headers.host", fHost, rankPrimary},
	{"request.headers.user-agent", fUserAgent, rankPrimary},
	{"request.headers.referer", fReferer, rankPrimary},
	{"request.headers.x-forwarded-for", fXFF, rankPrimary},
	{"request.headers.x-forwarded-proto", fScheme, rankFallback},
	{"request.headers.x-request-id", fRequestID, rankFallback},
	{"request.headers.kong-request-id", fRequestID, rankFallback},
	// Kong may redact these (Authorization is logged as "REDACTED" by
	// default); isMaskedCredential drops placeholders.
	{"request.headers.apikey", fAPIKey, rankPrimary},
	{"request.headers.x-api-key", fAPIKey, rankPrimary},
	{"request.headers.authorization", fAuthorization, rankPrimary},
	{"request.headers.x-api-version", fVersion, rankPrimary},

	{"response.status", fStatus, rankPrimary},
	{"response.size", fBytesOut, rankPrimary},
	{"response.headers", fIgnore, rankPrimary},

	{"latencies.request", fLatencyMS, rankPrimary},
	{"latencies.proxy", fLatencyMS, rankFallback},
	{"latencies.kong", fIgnore, rankPrimary},
	{"latencies.receive", fIgnore, rankPrimary},

	{"consumer.id", fAPIKeyID, rankPrimary},
	{"consumer.username", fAPIKeyID, rankFallback},
	{"consumer.custom_id", fIgnore, rankPrimary},
	{"consumer.created_at", fIgnore, rankPrimary},
	{"authenticated_entity.id", fAPIKeyID, rankFallback},
	{"authenticated_entity.consumer_id", fIgnore, rankPrimary},

	// Kong's own route and service objects: known, so they count for format
	// detection, but the route template comes from the path like for every
	// other gateway.
	{"route", fIgnore, rankPrimary},
	{"service", fIgnore, rankPrimary},
	{"upstream_uri", fIgnore, rankPrimary},
	{"upstream_status", fIgnore, rankPrimary},
	{"tries", fIgnore, rankPrimary},
	{"workspace", fIgnore, rankPrimary},
	{"workspace_name", fIgnore, rankPrimary},
	{"source", fIgnore, rankPrimary},
}

var kongSchema = compileJSONSchema(jsonSchemaSpec{
	Format: "kong",
	Keys:   kongKeys,
})

func init() {
	registerParser("kong", "Kong file-log / http-log plugin JSON (kong.log.serialize)", kongSchema.newParser)
}
