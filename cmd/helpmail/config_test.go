package main

import (
	"encoding"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/helpmail/helpmail"
)

const opExamplePath = "../../config.example.toml"

// opEnv is a getenv over a map.
func opEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// opExampleUncommented returns config.example.toml with its commented-out
// examples ("# [[routes]]", "# address = …") turned on, so they are
// checked too.
func opExampleUncommented(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(opExamplePath)
	if err != nil {
		tb.Fatal(err)
	}
	example := regexp.MustCompile(`^# (\[\[[a-z_.]+\]\]|[a-z_]+ = .*)$`)
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if example.MatchString(l) {
			lines[i] = strings.TrimPrefix(l, "# ")
		}
	}
	return strings.Join(lines, "\n")
}

// opConfigKeys returns the dotted TOML key of every setting of a Config,
// walking the struct by its toml tags: "smtp.listen", "routes.address",
// "sla.policies.*.calendar" (a map's keys are "*").
func opConfigKeys(t reflect.Type, prefix string) []string {
	text := reflect.TypeFor[encoding.TextUnmarshaler]()
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			keys = append(keys, opConfigKeys(f.Type, prefix)...)
			continue
		}
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		key := prefix + tag
		ft := f.Type
		switch {
		case reflect.PointerTo(ft).Implements(text):
			keys = append(keys, key)
		case ft.Kind() == reflect.Struct:
			keys = append(keys, opConfigKeys(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, opConfigKeys(ft.Elem(), key+".")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, opConfigKeys(ft.Elem(), key+".*.")...)
		default:
			keys = append(keys, key)
		}
	}
	return keys
}

func TestConfigExample(t *testing.T) {
	// As shipped: every active line is a valid setting (LoadConfig refuses
	// unknown keys) and its values are the defaults it claims to show.
	cfg, err := LoadConfig(opExamplePath, opEnv(nil))
	if err != nil {
		t.Fatalf("LoadConfig(%s) = %v", opExamplePath, err)
	}
	def, err := LoadConfig("", opEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.path, def.path = "", ""
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("config.example.toml does not show the defaults:\nfile:     %+v\ndefaults: %+v", cfg, def)
	}

	// With the commented-out examples turned on, it still loads, and it
	// names every field of Config.
	full := opExampleUncommented(t)
	path := filepath.Join(t.TempDir(), "full.toml")
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path, opEnv(map[string]string{"IMAP_PASSWORD": "x"})); err != nil {
		t.Fatalf("LoadConfig(config.example.toml with its examples on) = %v", err)
	}
	var v map[string]any
	md, err := toml.Decode(full, &v)
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, k := range md.Keys() {
		defined = append(defined, k.String())
	}
	keys := opConfigKeys(reflect.TypeFor[Config](), "")
	if len(keys) < 90 {
		t.Fatalf("opConfigKeys(Config) = %d keys, want them all (%v)", len(keys), keys)
	}
	for _, key := range keys {
		pattern := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(key), `\*`, `[^.]+`) + "$")
		if !slices.ContainsFunc(defined, pattern.MatchString) {
			t.Errorf("config.example.toml does not document %s", key)
		}
	}
}

// TestConfigExampleKeysMatter checks the check above can fail: a Config
// with a field the example does not name is caught.
func TestConfigExampleKeysMatter(t *testing.T) {
	type extra struct {
		Config
		Surprise string `toml:"surprise_setting"`
	}
	keys := opConfigKeys(reflect.TypeFor[extra](), "")
	if !slices.Contains(keys, "surprise_setting") || !slices.Contains(keys, "sla.policies.*.calendar") ||
		!slices.Contains(keys, "imap.password") || !slices.Contains(keys, "outbound.relay.dial_timeout") {
		t.Errorf("opConfigKeys = %v, want nested, list, map and embedded fields", keys)
	}
	if strings.Contains(opExampleUncommented(t), "surprise_setting") {
		t.Errorf("the example names a field that does not exist")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // all in the error
	}{
		{"unknown top-level key", "colour = \"blue\"\n", []string{"unknown key colour"}},
		{"unknown key in a table", "[smtp]\nlisten = \"127.0.0.1:25\"\nlistn = \"x\"\n", []string{"unknown key smtp.listn"}},
		{"unknown key in a list of tables", "[[routes]]\naddress = \"support@example.com\"\nprioriti = \"high\"\n", []string{"routes.prioriti"}},
		{"unknown table", "[smpt]\nlisten = \"x\"\n", []string{"smpt.listen"}},
		{"several unknown keys", "[log]\nformt = \"json\"\nlevl = \"info\"\n", []string{"log.formt", "log.levl"}},
		{"syntax error", "[smtp]\nlisten = 127.0.0.1\n", []string{":2:"}},
		{"wrong type", "[smtp]\nmax_message_bytes = \"big\"\n", []string{"max_message_bytes"}},
		{"bad value", "[helpdesk]\nvisibility = \"public\"\n", []string{"helpdesk.visibility"}},
		{"bad duration", "[helpdesk]\nreopen_window = \"a month\"\n", []string{"a month"}},
		{"bad route", "[[routes]]\naddress = \"support+x@example.com\"\n", []string{"routes[0].address"}},
		{"bad policy", "[sla.policies.urgent]\nfirst_response = \"1h\"\n", []string{"sla.policies.urgent"}},
		{"bad calendar", "[sla.policies.high]\ncalendar = \"weekdays\"\n", []string{"sla.policies.high.calendar"}},
		{"bad hours", "[sla.hours]\nmon = [\"17:00-09:00\"]\n", []string{"sla.hours.mon"}},
		{"env secret not set", "[outbound.relay]\nhost = \"relay.example.com\"\npassword = \"env:NOT_SET_ANYWHERE\"\n",
			[]string{"outbound.relay.password", "NOT_SET_ANYWHERE"}},
		{"file secret missing", "[[imap]]\naddress = \"support@example.com\"\nhost = \"imap.example.com\"\npassword = \"file:/nonexistent/pw\"\n",
			[]string{"imap[0].password", "/nonexistent/pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.toml")
			os.WriteFile(path, []byte(tt.text), 0o600)
			_, err := LoadConfig(path, opEnv(nil))
			if err == nil {
				t.Fatalf("LoadConfig(%q) = nil, want an error naming %v", tt.text, tt.want)
			}
			for _, w := range append([]string{path}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadConfig(%q) = %q, want it to name %q", tt.text, err, w)
				}
			}
		})
	}
}

func TestConfigSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "imap.pw")
	os.WriteFile(pw, []byte("from-a-file\n"), 0o600)
	path := filepath.Join(dir, "c.toml")
	os.WriteFile(path, []byte(`[helpdesk]
secret = "a-literal-secret-of-32-bytes-xxxx"
[outbound.relay]
host = "relay.example.com"
password = "env:RELAY_PW"
[[imap]]
address = "support@example.com"
host = "imap.example.com"
password = "file:`+pw+`"
`), 0o600)
	cfg, err := LoadConfig(path, opEnv(map[string]string{"RELAY_PW": "from-the-env"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		s            Secret
		value, shown string
	}{
		{"literal", cfg.Helpdesk.Secret, "a-literal-secret-of-32-bytes-xxxx", "********"},
		{"env", cfg.Outbound.Relay.Password, "from-the-env", "env:RELAY_PW (set)"},
		{"file", cfg.IMAP[0].Password, "from-a-file", "file:" + pw + " (set)"},
		{"unset", Secret{}, "", ""},
	}
	for _, tt := range tests {
		if got := tt.s.Value(); got != tt.value {
			t.Errorf("%s: Value() = %q, want %q", tt.name, got, tt.value)
		}
		text, _ := tt.s.MarshalText()
		if tt.s.String() != tt.shown || string(text) != tt.shown {
			t.Errorf("%s: String() = %q, MarshalText() = %q, want %q", tt.name, tt.s.String(), text, tt.shown)
		}
	}
	// The secrets reach what uses them.
	app, err := OpenApp(t.Context(), func() *Config { c := *cfg; c.Database.Path = filepath.Join(dir, "h.db"); return &c }(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	relay, _, err := app.Sender()
	if err != nil {
		t.Fatal(err)
	}
	if got := reflect.ValueOf(relay).Elem().FieldByName("Password").String(); got != "from-the-env" {
		t.Errorf("relay password = %q, want the environment's", got)
	}
	p, err := app.Poller(cfg.IMAP[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if p.Account.Password != "from-a-file" {
		t.Errorf("IMAP password = %q, want the file's", p.Account.Password)
	}
}

func TestConfigMerging(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(path, []byte(`[sla.hours]
mon = ["10:00-12:00"]
[sla.policies.system_down]
first_response = "30m"
[sla.policies.low]
resolution = "0"
`), 0o600)
	cfg, err := LoadConfig(path, opEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SLA.Hours) != 1 || !slices.Equal(cfg.SLA.Hours["mon"], []string{"10:00-12:00"}) {
		t.Errorf("sla.hours = %v, want only the file's monday (a table in the file replaces the default)", cfg.SLA.Hours)
	}
	_, sla, err := cfg.desk()
	if err != nil {
		t.Fatal(err)
	}
	def := helpmail.DefaultPolicies()
	want := map[helpmail.Priority]helpmail.Policy{
		// Only first_response changed: still 24x7, resolution kept.
		helpmail.PrioritySystemDown: {FirstResponse: 30 * time.Minute, Resolution: def[helpmail.PrioritySystemDown].Resolution, AlwaysOpen: true},
		// An explicit 0 is no target.
		helpmail.PriorityLow:    {FirstResponse: def[helpmail.PriorityLow].FirstResponse},
		helpmail.PriorityMedium: def[helpmail.PriorityMedium],
	}
	for prio, w := range want {
		if got := sla.Policies[prio]; got != w {
			t.Errorf("policy %s = %+v, want %+v", prio, got, w)
		}
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"30d", 30 * 24 * time.Hour, "30d"},
		{"1d12h", 36 * time.Hour, "36h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"5m", 5 * time.Minute, "5m"},
		{"6h", 6 * time.Hour, "6h"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"50ms", 50 * time.Millisecond, "50ms"},
		{"0", 0, "0s"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
		if s := FormatDuration(got); s != tt.out {
			t.Errorf("FormatDuration(%v) = %q, want %q", got, s, tt.out)
		}
		if back, err := ParseDuration(FormatDuration(got)); err != nil || back != got {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", got, back, err)
		}
	}
	for _, bad := range []string{"a week", "3x", "d", "1.5d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = nil error, want one", bad)
		}
	}
}
