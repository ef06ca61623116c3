package ingest

// Traefik's JSON access log uses fixed CamelCase field names; request
// headers appear as request_<Header-Name> when the headers are kept
// (accessLog.fields.headers).
var traefikKeys = []jsonKey{
	{"StartUTC", fTime, rankPrimary},
	{"StartLocal", fTime, rankFallback},
	{"time", fTime, rankFallback}, // when the entry was written, i.e. the end of the request

	{"ClientHost", fRemoteAddr, rankPrimary},
	{"ClientAddr", fRemoteAddr, rankFallback}, // host:port
	{"ClientPort", fIgnore, rankPrimary},
	// Set by the basic/digest/forward auth middlewares. Basic auth logs the
	// user even when the password was wrong, but then the status is 401 and
	// the Normalizer does not take a rejected identity.
	{"ClientUsername", fClaimedUser, rankPrimary}, // from the URL's user info unless an auth middleware set it: a claim

	{"RequestMethod", fMethod, rankPrimary},
	{"RequestPath", fTarget, rankPrimary}, // includes the query
	{"RequestProtocol", fIgnore, rankPrimary},
	{"RequestScheme", fScheme, rankPrimary},
	{"RequestHost", fHost, rankPrimary},
	{"RequestAddr", fHost, rankFallback},
	{"RequestPort", fIgnore, rankPrimary},
	{"RequestContentSize", fBytesIn, rankPrimary},
	{"RequestCount", fIgnore, rankPrimary},

	{"DownstreamStatus", fStatus, rankPrimary},
	{"OriginStatus", fStatus, rankFallback},
	{"DownstreamContentSize", fBytesOut, rankPrimary},
	{"OriginContentSize", fBytesOut, rankFallback},
	{"Duration", fLatencyNS, rankPrimary},
	{"OriginDuration", fLatencyNS, rankFallback},
	{"Overhead", fIgnore, rankPrimary},

	{"RouterName", fIgnore, rankPrimary},
	{"ServiceName", fIgnore, rankPrimary},
	{"ServiceURL", fIgnore, rankPrimary},
	{"ServiceAddr", fIgnore, rankPrimary},
	{"entryPointName", fIgnore, rankPrimary},
	{"RetryAttempts", fIgnore, rankPrimary},
	{"GzipRatio", fIgnore, rankPrimary},

	{"TLSVersion", fTLSVersion, rankPrimary}, // "1.3"
	{"TLSCipher", fIgnore, rankPrimary},
	{"TLSClientSubject", fMTLSSubject, rankPrimary},

	{"request_User-Agent", fUserAgent, rankPrimary},
	{"request_Referer", fReferer, rankPrimary},
	{"request_X-Forwarded-For", fXFF, rankPrimary},
	{"request_X-Forwarded-Proto", fScheme, rankFallback},
	{"request_X-Request-Id", fRequestID, rankPrimary},
	{"request_X-Api-Key", fAPIKey, rankPrimary},
	{"request_Authorization", fAuthorization, rankPrimary}, // "REDACTED" unless headers are kept
	{"request_X-Api-Version", fVersion, rankPrimary},
}

var traefikSchema = compileJSONSchema(jsonSchemaSpec{
	Format: "traefik_json",
	Keys:   traefikKeys,
})

func init() {
	registerParser("traefik_json", "Traefik JSON access log (accessLog.format=json)", traefikSchema.newParser)
}
