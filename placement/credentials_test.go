package placement

import "testing"

// TestCredentialDetector: each row is a field name and a value, and the
// kind of credential they are, "" for none. The negative rows are what
// specs hold: images, versions, regions, hosts, paths, text, references.
func TestCredentialDetector(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		// by shape
		{"id", "AKIAIOSFODNN7EXAMPLE", "AWS access key id"},
		{"who", "ASIAY34FZKBOKMUTVV7A", "AWS access key id"},
		{"awsKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"},
		{"env", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"},
		{"storage", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=bm90IGEga2V5;EndpointSuffix=core.windows.net", "Azure connection string"},
		{"bus", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=bm90IGEga2V5", "Azure connection string"},
		{"tls", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----", "PEM private key"},
		{"ssh", "-----BEGIN OPENSSH PRIVATE KEY-----", "PEM private key"},
		{"gcp", `{"type": "service_account", "project_id": "p"}`, "GCP service account key"},
		{"gcp", `{"private_key": "x"}`, "GCP service account key"},
		{"header", "Bearer abcdef0123456789", "authorization header"},
		{"header", "Authorization: Basic dXNlcjpwYXNz", "authorization header"},
		{"session", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "JWT"},
		{"db", "postgres://app:hunter2@db.internal:5432/billing", "password in a URL"},
		{"path", "/healthz?token=abc123", "credential in URL query parameter token"},
		{"url", "https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=abc%3D", "credential in URL query parameter sig"},
		{"url", "https://s3.amazonaws.com/b/o?X-Amz-Signature=abc", "credential in URL query parameter X-Amz-Signature"},
		{"url", "https://maps.example.com/api?api_key=k1", "credential in URL query parameter api_key"},
		{"url", "https://maps.example.com/api?key=AbC123xyz", "credential in URL query parameter key"},
		{"url", "https://maps.example.com/api?key=abcdefghijklmnopqrstuvwxyz", "credential in URL query parameter key"},
		{"conn", "AccountKey=bm90IGEga2V5", "Azure connection string"},
		{"sas", "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig=abc", "Azure connection string"},
		{"ci", "ghp_0123456789abcdefghijABCDEFGHIJ012345", "GitHub token"},
		{"chat", "xoxb-123456789012-abcdefghij", "Slack token"},
		{"hook", "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX", "Slack token"},
		{"maps", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "Google API key"},
		{"maps", "AIzaSyA1234567890abcdefghijklmnopqrstu-", "Google API key"},
		{"maps", "https://maps.example.com/js?v=3&callback=AIzaSyA1234567890abcdefghijklmnopqrstu-", "Google API key"},

		// not credentials
		{"image", "registry.example.com/platform/feature-flags", ""},
		{"version", "4.0.0", ""},
		{"region", "us-gov-west-1", ""},
		{"roleArn", "arn:aws-us-gov:iam::123456789012:role/meridian-deployer", ""},
		{"subscription", "00000000-0000-0000-0000-0000000000a1", ""},
		{"path", "/healthz", ""},
		{"path", "/status?verbose=1&format=json", ""},
		{"path", "/status?token=", ""},
		{"note", "Basic authentication is turned off; Bearer tokens only", ""},
		{"commit", "0123456789abcdef0123456789abcdef01234567", ""},
		{"awsCommit", "0123456789abcdef0123456789abcdef01234567", ""},
		{"db", "postgres://app@db.internal:5432/billing", ""},
		{"db", "postgres://app:${DB_PASSWORD}@db.internal/billing", ""},
		{"url", "https://api.example.com/v1?key=$API_KEY", ""},
		{"url", "https://api.example.com/v1?access_token={{ .token }}", ""},
		{"url", "https://api.example.com/v1?access_token={{ .token }}&sig=abc", "credential in URL query parameter sig"},
		{"host", "http://localhost:8080/", ""},
		// placeholders, and query values that read as words
		{"conn", "AccountKey=${KEY}", ""},
		{"storage", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${STORAGE_KEY};EndpointSuffix=core.windows.net", ""},
		{"bus", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey={{ .key }}", ""},
		{"storage", "DefaultEndpointsProtocol=https;AccountName=acct;EndpointSuffix=core.windows.net", ""},
		{"docs", "https://docs.example.com/guide?key=overview", ""},
		{"docs", "https://docs.example.com/guide?section=api&key=getting-started", ""},
		{"login", "https://sso.example.com/start?auth=none", ""},
		{"text", "rotate the signing key every 90 days", ""},
		{"", "", ""},
	} {
		if got := credentialValue(tc.name, tc.value); got != tc.want {
			t.Errorf("credentialValue(%q, <%d bytes>) = %q, want %q", tc.name, len(tc.value), got, tc.want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"dbPassword", "password"},
		{"DB_PASSWD", "password"},
		{"secretAccessKey", "secret"},
		{"sessionToken", "token"},
		{"connectionString", "connection string"},
		{"AccountKey", "account key"},
		{"serviceAccountJson", "service account key"},
		{"sharedKey", "shared key"},
		{"signing-key", "signing key"},
		{"Authorization", "authorization header"},
		{"api_key", "API key"},
		{"privateKey", "private key"},
		{"clientSecret", "secret"},

		{"profile", ""},
		{"roleArn", ""},
		{"subscription", ""},
		{"project", ""},
		{"tokenTTL", ""},
		{"secretName", ""},
		{"secretId", ""},
		{"secret_version", ""},
		{"secretStore", ""},
		{"passwordPolicy", ""},
		{"authorizationMode", ""},
		{"dbPasswordConfirm", "password"},
		{"secretRef", ""},
		{"passwordFile", ""},
		{"tokenURL", ""},
		{"keyVault", ""},
		{"rateLimit", ""},
	} {
		if got := secretName(tc.name); got != tc.want {
			t.Errorf("secretName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
