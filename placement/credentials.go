package placement

import (
	"regexp"
	"strings"
	"unicode"
)

// A spec's concrete values go into workflow inputs, and so into Temporal's
// history and database in plain text: a credential written in the spec
// would be stored there. The detector below finds literals that look like
// credentials, by the name of the field that holds them and by their shape.
// It never returns the value, only what kind of credential it looks like.

// secretNames are the words of a field name that say it holds a
// credential, matched in the name folded to lower case without separators
// ("db_Password" → "dbpassword"), each with the kind a finding names.
var secretNames = []struct{ word, kind string }{
	{"connectionstring", "connection string"},
	{"serviceaccountjson", "service account key"},
	{"serviceaccountkey", "service account key"},
	{"privatekey", "private key"},
	{"passw", "password"},
	{"passphrase", "password"},
	{"secret", "secret"},
	{"token", "token"},
	{"credential", "credential"},
	{"authorization", "authorization header"},
	{"apikey", "API key"},
	{"accesskey", "access key"},
	{"accountkey", "account key"},
	{"clientkey", "client key"},
	{"sharedkey", "shared key"},
	{"signingkey", "signing key"},
	{"masterkey", "master key"},
}

// referenceSuffixes end names that describe or point at a secret rather
// than hold one: tokenTTL, secretName, secretId (Secrets Manager's name for
// a secret), passwordFile, tokenURL, passwordPolicy.
var referenceSuffixes = []string{"ttl", "expiry", "lifetime", "length", "name", "id", "version", "store", "ref", "arn", "path", "file", "url", "uri", "endpoint", "issuer", "audience", "policy", "mode"}

// secretName returns the kind of credential a field name says it holds,
// or "" when the name is not secret-like.
func secretName(name string) string {
	folded := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	for _, s := range referenceSuffixes {
		if strings.HasSuffix(folded, s) {
			return ""
		}
	}
	for _, n := range secretNames {
		if strings.Contains(folded, n.word) {
			return n.kind
		}
	}
	return ""
}

// credentialShapes are credentials recognisable by their text alone.
var credentialShapes = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)},
	{"AWS secret access key", regexp.MustCompile(`(?i)aws.{0,20}secret.{0,20}[=:"'\s][A-Za-z0-9/+]{40}\b`)},
	{"PEM private key", regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)},
	{"GCP service account key", regexp.MustCompile(`"private_key(_id)?"\s*:|"type"\s*:\s*"service_account"`)},
	{"JWT", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)},
	{"GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})`)},
	{"Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+`)},
	// A key may end in '-', after which \b would not match: the key ends
	// where its alphabet does.
	{"Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}(?:[^0-9A-Za-z_-]|$)`)},
}

// azureKey is the key part of an Azure connection string (storage,
// Service Bus, Event Hubs): AccountKey, SharedAccessKey or
// SharedAccessSignature and its value, which runs to the next ';' or is a
// whole template placeholder. A connection string without one, or whose
// key is a placeholder (AccountKey=${KEY}), holds no credential.
var azureKey = regexp.MustCompile(`(?i)\b(?:AccountKey|SharedAccessKey|SharedAccessSignature)=(\{\{[^}]*\}\}|[^;\s"']*)`)

// authHeader is an Authorization header value: a scheme and a token. The
// token must look like one (see tokenish), so that "Basic authentication"
// stays text.
var authHeader = regexp.MustCompile(`(?i)(?:^|authorization\s*:\s*)(bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})`)

// userinfo is a URL with a password: scheme://user:password@host.
var userinfo = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@`)

// query finds URL query parameters (?name=value or &name=value). A value
// is a whole template placeholder ({{ .token }}, spaces and all) or runs to
// the next separator.
var query = regexp.MustCompile(`[?&]([A-Za-z0-9_.-]+)=(\{\{[^}]*\}\}|[^&#\s"']*)`)

// secretParams are query parameter names, in lower case, that carry a
// credential; so does any name ending in token, secret, password,
// signature or credential (id_token, X-Amz-Signature).
var secretParams = map[string]bool{
	"key": true, "apikey": true, "api_key": true, "api-key": true, "sig": true,
	"pwd": true, "passwd": true, "auth": true,
}

// wordParams are secretParams that also name ordinary things (the key of
// a document section, an auth mode): their value is a credential only when
// it does not read as a word (see word).
var wordParams = map[string]bool{"key": true, "auth": true}

// word reports whether a query value reads as words (?key=overview,
// ?key=getting-started, ?auth=none) rather than a generated credential:
// lower-case letters, in words joined by single dashes or underscores,
// shorter than 20 characters.
func word(s string) bool { return len(s) < 20 && wordRE.MatchString(s) }

var wordRE = regexp.MustCompile(`^[a-z]+([-_][a-z]+)*$`)

// aws40 is the shape of an AWS secret access key.
var aws40 = regexp.MustCompile(`^[A-Za-z0-9/+]{40}$`)

// credentialValue returns the kind of credential the string value of the
// field name looks like, or "" when it looks like none.
func credentialValue(name, value string) string {
	if strings.TrimSpace(value) == "" {
		return ""
	}
	for _, s := range credentialShapes {
		if s.re.MatchString(value) {
			return s.kind
		}
	}
	for _, m := range azureKey.FindAllStringSubmatch(value, -1) {
		if m[1] != "" && !placeholder(m[1]) {
			return "Azure connection string"
		}
	}
	if aws40.MatchString(value) && !isHex(value) && strings.Contains(strings.ToLower(name), "aws") {
		return "AWS secret access key"
	}
	if m := authHeader.FindStringSubmatch(value); m != nil && tokenish(m[2]) {
		return "authorization header"
	}
	if m := userinfo.FindStringSubmatch(value); m != nil && !placeholder(m[1]) {
		return "password in a URL"
	}
	if strings.ContainsAny(value, "?&") {
		for _, m := range query.FindAllStringSubmatch(value, -1) {
			if secretParam(m[1]) && m[2] != "" && !placeholder(m[2]) && (!wordParams[strings.ToLower(m[1])] || !word(m[2])) {
				return "credential in URL query parameter " + m[1]
			}
		}
	}
	return ""
}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	if secretParams[n] {
		return true
	}
	for _, s := range []string{"token", "secret", "password", "signature", "credential"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// tokenish reports whether s looks like a generated token rather than a
// word: it has a digit or a symbol, or an upper-case letter after the first.
func tokenish(s string) bool {
	for i, r := range s {
		if unicode.IsDigit(r) || strings.ContainsRune("._~+/=-", r) || (i > 0 && unicode.IsUpper(r)) {
			return true
		}
	}
	return false
}

// placeholderRE is a value filled in elsewhere: ${DB_PASSWORD},
// $TOKEN, {{ .token }}, <password>.
var placeholderRE = regexp.MustCompile(`^(\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|<[^>]*>)$`)

// placeholder reports whether s stands for a value filled in elsewhere: it
// holds no credential.
func placeholder(s string) bool { return placeholderRE.MatchString(s) }

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdefABCDEF") == ""
}
