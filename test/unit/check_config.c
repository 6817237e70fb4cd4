/* check_config.c -- the config schema: defaults, every key, and errors
 * that name file:line:col and the key. */
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/config.h"
#include "suites.h"
#include "testutil.h"

START_TEST(test_cfg_defaults_and_empty)
{
    struct cfg c;
    struct mb_diag d = {0};

    ck_assert_int_eq(cfg_parse("", 0, "empty.yaml", &c, &d), MB_OK);
    ck_assert(!c.dry_run);
    ck_assert_uint_eq(c.namespaces.n, 0);
    ck_assert_uint_eq(c.tiers.throttle, 80);
    ck_assert_uint_eq(c.tiers.gc, 90);
    ck_assert_uint_eq(c.tiers.evict, 95);
    ck_assert_uint_eq(c.sample_interval_ms, 15000);
    ck_assert_uint_eq(c.sustain_samples, 2);
    ck_assert_uint_eq(c.recover_samples, 3);
    ck_assert_uint_eq(c.hysteresis, 5);
    ck_assert_uint_eq(c.gc_min_interval_ms, 60000);
    ck_assert_uint_eq(c.leak.window, 10);
    ck_assert_int_eq(c.usage.source, CFG_SOURCE_AUTO);
    ck_assert_uint_eq(c.usage.scrape_timeout_ms, 2000);
    ck_assert_uint_eq(c.usage.max_concurrent_scrapes, 256);
    ck_assert_int_eq(c.usage.max_response_bytes, 4 << 20);
    ck_assert_uint_eq(c.eviction.max_per_minute, 5);
    ck_assert_str_eq(c.eviction.profile_dir, "/var/lib/membudget/profiles");
    ck_assert_int_eq(c.eviction.profile_max_bytes, 64 << 20);
    ck_assert_uint_eq(c.eviction.owner_settle_timeout_ms, 300000);
    ck_assert(c.eviction.gc_first);
    ck_assert_int_eq(c.eviction.profile_dir_max_bytes, 1 << 30);
    ck_assert_uint_eq(c.gc_thrash.percent, 50);
    ck_assert(!c.gc_thrash.evict);
    ck_assert_uint_eq(c.recommend.margin_pct, 15);
    ck_assert_uint_eq(c.recommend.half_life_ms, 86400000);
    ck_assert_uint_eq(c.recommend.peak_window_ms, 300000);
    ck_assert_uint_eq(c.recommend.checkpoint_interval_ms, 600000);
    ck_assert(!c.usage.allow_loopback);
    ck_assert(!c.usage.allow_host_network);
    ck_assert_uint_eq(c.excluded.n, 3);
    ck_assert(cfg_excluded(&c, "kube-system", NULL));
    ck_assert(cfg_excluded(&c, "membudget", "membudget"));
    ck_assert(!cfg_excluded(&c, "shop", "membudget"));
    ck_assert(c.admission.require_budget);
    ck_assert_uint_eq(c.admission.default_budget_pct, 0);
    ck_assert(c.admission.inject_gomemlimit);
    ck_assert(c.admission.inject_readiness_gate);
    ck_assert_int_eq(c.max_body_bytes, 6 << 20);
    cfg_cleanup(&c);
    ck_assert_int_eq(cfg_parse("# only a comment\n", 17, "c.yaml", &c, &d), MB_OK);
    cfg_cleanup(&c);
}
END_TEST

START_TEST(test_cfg_every_key)
{
    size_t len;
    char *y = tu_read_file("test/fixtures/cfg/full.yaml", &len);
    struct cfg c;
    struct mb_diag d = {0};

    ck_assert_msg(cfg_parse(y, len, "full.yaml", &c, &d) == MB_OK, "%s", d.msg);
    ck_assert(c.dry_run);
    ck_assert_uint_eq(c.namespaces.n, 2);
    ck_assert_str_eq(c.namespaces.v[1], "payments");
    ck_assert_uint_eq(c.tiers.throttle, 70);
    ck_assert_uint_eq(c.admission.default_tiers.evict, 97);
    ck_assert_uint_eq(c.sample_interval_ms, 10000);
    ck_assert_uint_eq(c.sustain_samples, 3);
    ck_assert_uint_eq(c.recover_samples, 4);
    ck_assert_uint_eq(c.hysteresis, 4);
    ck_assert_uint_eq(c.gc_min_interval_ms, 120000);
    ck_assert_uint_eq(c.leak.window, 12);
    ck_assert(c.leak.min_slope_pct_per_min == 0.5);
    ck_assert_int_eq(c.usage.source, CFG_SOURCE_SCRAPE);
    ck_assert_uint_eq(c.usage.scrape_timeout_ms, 1500);
    ck_assert_uint_eq(c.usage.max_concurrent_scrapes, 128);
    ck_assert_int_eq(c.usage.max_response_bytes, 2 << 20);
    ck_assert_uint_eq(c.eviction.max_per_minute, 3);
    ck_assert_str_eq(c.eviction.profile_dir, "/data/profiles");
    ck_assert_int_eq(c.eviction.profile_max_bytes, 32 << 20);
    ck_assert_uint_eq(c.eviction.owner_settle_timeout_ms, 120000);
    ck_assert(!c.eviction.gc_first);
    ck_assert_int_eq(c.eviction.profile_dir_max_bytes, 2LL << 30);
    ck_assert_uint_eq(c.gc_thrash.percent, 60);
    ck_assert(c.gc_thrash.evict);
    ck_assert_uint_eq(c.recommend.margin_pct, 20);
    ck_assert_uint_eq(c.recommend.half_life_ms, 12 * 3600000);
    ck_assert_uint_eq(c.recommend.peak_window_ms, 60000);
    ck_assert_uint_eq(c.recommend.checkpoint_interval_ms, 0); /* off */
    ck_assert(c.usage.allow_loopback);
    ck_assert(c.usage.allow_host_network);
    /* the file's list replaces the default, the built-ins still hold */
    ck_assert_uint_eq(c.excluded.n, 1);
    ck_assert(cfg_excluded(&c, "monitoring", NULL));
    ck_assert(cfg_excluded(&c, "kube-system", NULL));
    ck_assert(!c.admission.require_budget);
    ck_assert_uint_eq(c.admission.default_budget_pct, 90);
    ck_assert(!c.admission.inject_gomemlimit);
    ck_assert(!c.admission.inject_readiness_gate);
    ck_assert_int_eq(c.max_body_bytes, 1 << 20);
    ck_assert_int_eq(c.profiles.store, CFG_STORE_S3);
    ck_assert_uint_eq(c.profiles.min_interval_ms, 120000);
    ck_assert_uint_eq(c.profiles.max_in_flight, 2);
    ck_assert_int_eq(c.profiles.queue_max_bytes, 128 << 20);
    ck_assert_str_eq(c.profiles.s3.endpoint, "https://s3.eu-west-1.amazonaws.com");
    ck_assert_str_eq(c.profiles.s3.bucket, "shop-profiles");
    ck_assert_str_eq(c.profiles.s3.region, "eu-west-1");
    ck_assert_str_eq(c.profiles.s3.prefix, "clusters/prod-1");
    ck_assert(c.profiles.s3.path_style);
    ck_assert_str_eq(c.profiles.s3.access_key_file, "/etc/membudget/s3/access-key");
    ck_assert_str_eq(c.profiles.s3.secret_key_file, "/etc/membudget/s3/secret-key");
    ck_assert_str_eq(c.profiles.s3.session_token_file, "/etc/membudget/s3/session-token");
    ck_assert_str_eq(c.profiles.s3.ca_file, "/etc/membudget/s3/ca.crt");
    ck_assert_uint_eq(c.profiles.s3.timeout_ms, 30000);
    cfg_cleanup(&c);
    mb_free(y);
}
END_TEST

/* Each row: YAML -> the exact start of the message ("file:line:col: key: ..."). */
static const struct {
    const char *yaml, *want;
} BAD[] = {
    {"admision:\n  requireBudget: true\n", "t.yaml:1:1: admision: unknown key"},
    {"admission:\n  requireBudget: yes\n",
     "t.yaml:2:18: admission.requireBudget: expected true or false"},
    {"admission:\n  requireBudget: \"true\"\n",
     "t.yaml:2:18: admission.requireBudget: expected true or false"},
    {"admission:\n  maxBodyBytes: 3MB\n",
     "t.yaml:2:17: admission.maxBodyBytes: \"3MB\": unknown suffix"},
    {"admission:\n  maxBodyBytes: 1Gi\n",
     "t.yaml:2:17: admission.maxBodyBytes: 1Gi is out of range"},
    {"admission:\n  defaultBudgetPercentOfLimit: 101\n",
     "t.yaml:2:32: admission.defaultBudgetPercentOfLimit: 101 is out of range [0, 100]"},
    {"admission:\n  defaultBudgetPercentOfLimit: 9.5\n",
     "t.yaml:2:32: admission.defaultBudgetPercentOfLimit: \"9.5\": expected a whole number"},
    {"admission:\n  bogus: 1\n", "t.yaml:2:3: admission.bogus: unknown key"},
    {"gcThrash: {percent: 0}\n", "t.yaml:1:21: gcThrash.percent: 0 is out of range [1, 100]"},
    /* numbers range-checked before any cast; NaN and infinities refused, key named */
    {"sustainSamples: 1e39\n", "t.yaml:1:17: sustainSamples: 1e39 is out of range"},
    {"sustainSamples: -1e39\n", "t.yaml:1:17: sustainSamples: -1e39 is out of range"},
    {"sustainSamples: nan\n", "t.yaml:1:17: sustainSamples: \"nan\": expected a finite number"},
    {"leak: {minSlopePercentPerMinute: nan}\n",
     "t.yaml:1:34: leak.minSlopePercentPerMinute: \"nan\": expected a finite number"},
    {"leak: {minSlopePercentPerMinute: NaN}\n",
     "t.yaml:1:34: leak.minSlopePercentPerMinute: \"NaN\": expected a finite number"},
    {"leak: {minSlopePercentPerMinute: inf}\n",
     "t.yaml:1:34: leak.minSlopePercentPerMinute: \"inf\": expected a finite number"},
    {"leak: {minSlopePercentPerMinute: -infinity}\n",
     "t.yaml:1:34: leak.minSlopePercentPerMinute: \"-infinity\": expected a finite number"},
    {"leak: {minSlopePercentPerMinute: .inf}\n",
     "t.yaml:1:34: leak.minSlopePercentPerMinute: \".inf\": expected a number"},
    {"tiers: {gc: 1e30}\n", "t.yaml:1:13: tiers.gc: 1e30 is out of range [1, 100]"},
    {"tiers: {gc: nan}\n", "t.yaml:1:13: tiers.gc: \"nan\": expected a finite number"},
    {"eviction: {profileDirMaxBytes: 1Ki}\n",
     "t.yaml:1:32: eviction.profileDirMaxBytes: 1Ki is out of range"},
    {"recommend: {halfLife: 10ms}\n", "t.yaml:1:23: recommend.halfLife: 10ms is out of range"},
    {"recommend: {checkpointInterval: 25h}\n",
     "t.yaml:1:33: recommend.checkpointInterval: 25h is out of range"},
    {"admission: [1]\n", "t.yaml:1:12: admission: expected a mapping, got a sequence"},
    {"sampleInterval: 15\n", "t.yaml:1:17: sampleInterval: expected a duration"},
    {"sampleInterval: 10ms\n", "t.yaml:1:17: sampleInterval: 10ms is out of range"},
    {"sustainSamples: two\n", "t.yaml:1:17: sustainSamples: \"two\": expected a number"},
    {"sustainSamples: \"2\"\n", "t.yaml:1:17: sustainSamples: expected a number, got a string"},
    {"tiers: {gc: 90, throttle: 95}\n",
     "t.yaml:1:8: tiers: thresholds must increase throttle < gc < evict"},
    {"tiers: {oom: 90}\n", "t.yaml:1:9: tiers.oom: unknown tier"},
    {"tiers: {gc: 0}\n", "t.yaml:1:13: tiers.gc: 0 is out of range [1, 100]"},
    {"namespaces: shop\n", "t.yaml:1:13: namespaces: expected a list"},
    {"namespaces: [Shop]\n", "t.yaml:1:14: namespaces: expected a namespace name"},
    {"usage: {source: magic}\n", "t.yaml:1:17: usage.source: expected auto, metrics-api or scrape"},
    {"eviction: {profileDir: relative/dir}\n",
     "t.yaml:1:24: eviction.profileDir: expected an absolute path"},
    {"dryRun: true\ndryRun: false\n", "t.yaml:2:1: dryRun: key is given twice"},
    {"hysteresis: 50\ntiers: {throttle: 40, evict: 95}\n",
     "t.yaml:1:13: hysteresis: must be smaller than the lowest tier"},
    {"sampleInterval: 2s\nusage: {scrapeTimeout: 2s}\n",
     "t.yaml:2:24: usage.scrapeTimeout: 2000ms (set here) must be below sampleInterval (2000ms, "
     "set at line 1)"},
    {"usage: {scrapeTimeout: 20s}\n", "t.yaml:1:24: usage.scrapeTimeout: 20000ms (set here) must "
                                      "be below sampleInterval (15000ms, the default)"},
    {"excludedNamespaces: [Kube]\n", "t.yaml:1:22: excludedNamespaces: expected a namespace name"},
    {"eviction: {gcFirst: 1}\n", "t.yaml:1:21: eviction.gcFirst: expected true or false"},
    {"eviction: {ownerSettleTimeout: 5}\n",
     "t.yaml:1:32: eviction.ownerSettleTimeout: expected a duration"},
    {"[1, 2]\n", "t.yaml:1:1: (top level): expected a mapping, got a sequence"},
    {"a: 1\n---\nb: 2\n", "t.yaml:3:1: (file): expected one YAML document"},
    {"dryRun: [\n", "t.yaml:2:1: "},
    {"profiles: {store: gcs}\n", "t.yaml:1:19: profiles.store: expected local or s3"},
    {"profiles: {store: s3}\n",
     "t.yaml:1:11: profiles.s3.endpoint: is required when profiles.store is s3"},
    {"profiles:\n  store: s3\n  s3: {endpoint: http://10.96.0.9:8333, accessKeyFile: /a, "
     "secretKeyFile: /b}\n",
     "t.yaml:3:7: profiles.s3.bucket: is required when profiles.store is s3"},
    {"profiles:\n  store: s3\n  s3: {endpoint: 10.96.0.9:8333, bucket: b1b, accessKeyFile: /a, "
     "secretKeyFile: /b}\n",
     "t.yaml:3:18: profiles.s3.endpoint: expected http://HOST[:PORT] or https://HOST[:PORT]"},
    {"profiles:\n  store: s3\n  s3: {endpoint: 'https://h/path', bucket: b1b, accessKeyFile: /a, "
     "secretKeyFile: /b}\n",
     "t.yaml:3:18: profiles.s3.endpoint: expected http://HOST[:PORT]"},
    {"profiles:\n  store: s3\n  s3: {endpoint: 'https://h', bucket: My_Bucket, accessKeyFile: "
     "/a, secretKeyFile: /b}\n",
     "t.yaml:3:39: profiles.s3.bucket: expected 3 to 63 lowercase letters"},
    {"profiles:\n  store: s3\n  s3: {endpoint: 'https://h', bucket: b1b, prefix: a/../b, "
     "accessKeyFile: /a, secretKeyFile: /b}\n",
     "t.yaml:3:52: profiles.s3.prefix: expected letters, digits"},
    {"profiles: {s3: {accessKeyFile: key}}\n",
     "t.yaml:1:32: profiles.s3.accessKeyFile: expected an absolute path"},
    {"profiles: {s3: {region: \"eu west\"}}\n",
     "t.yaml:1:25: profiles.s3.region: expected a string of at most 64 printable characters"},
    {"profiles: {maxInFlight: 0}\n", "t.yaml:1:25: profiles.maxInFlight: 0 is out of range"},
    {"profiles: {minInterval: 2d}\n", "t.yaml:1:25: profiles.minInterval: expected a duration"},
};

START_TEST(test_cfg_errors)
{
    struct cfg c;
    struct mb_diag d = {0};
    mb_err err = cfg_parse(BAD[_i].yaml, strlen(BAD[_i].yaml), "t.yaml", &c, &d);

    ck_assert_msg(err != MB_OK, "row %d accepted", _i);
    ck_assert_msg(!strncmp(d.msg, BAD[_i].want, strlen(BAD[_i].want)),
                  "row %d:\n got: %s\nwant: %s", _i, d.msg, BAD[_i].want);
}
END_TEST

static const struct {
    const char *in;
    bool ok;
    uint64_t ms;
} DUR[] = {
    {"15s", true, 15000}, {"2m", true, 120000},   {"1h30m", true, 5400000},
    {"500ms", true, 500}, {"1.5s", true, 1500},   {"0", true, 0},
    {"100us", true, 0},   {"1m30s", true, 90000}, {"15", false, 0},
    {"", false, 0},       {"s", false, 0},        {"-1s", false, 0},
    {"1d", false, 0},     {"1s ", false, 0},      {"99999999999h", false, 0},
};

/* sampleInterval x scrapeTimeout: an unset timeout follows the interval
 * (2s, or 80 % of a shorter interval) and is never refused; a timeout the
 * user set is refused only when it is not below the interval, and the
 * message says which value was the user's. want_ms 0: refused. */
static const struct {
    const char *interval, *timeout; /* NULL: not in the file */
    uint64_t want_ms;
    const char *err; /* start of the message after "t.yaml:L:C: " when refused */
} SCRAPE[] = {
    {"500ms", NULL, 0, "sampleInterval: 500ms is out of range [1000ms"},
    {"500ms", "100ms", 0, "sampleInterval: 500ms is out of range [1000ms"},
    {"1s", NULL, 800, NULL},
    {"1s", "800ms", 800, NULL},
    {"1s", "999ms", 999, NULL},
    {"1s", "1s", 0,
     "usage.scrapeTimeout: 1000ms (set here) must be below sampleInterval (1000ms, set at line 1)"},
    {"1s", "2s", 0,
     "usage.scrapeTimeout: 2000ms (set here) must be below sampleInterval (1000ms, set at line 1)"},
    {"1500ms", NULL, 1200, NULL},
    {"2s", NULL, 1600, NULL},
    {"2s", "1s", 1000, NULL},
    {"2s", "2s", 0,
     "usage.scrapeTimeout: 2000ms (set here) must be below sampleInterval (2000ms, set at line 1): "
     "a pod's next sample would start while its scrape may still be running; leave scrapeTimeout "
     "out to get 1600ms"},
    {"2500ms", NULL, 2000, NULL},
    {"5s", NULL, 2000, NULL},
    {"15s", NULL, 2000, NULL},
    {"30s", "10s", 10000, NULL},
    {"1m", NULL, 2000, NULL},
    {"1m", "59s", 59000, NULL},
    {"1m", "1m", 0,
     "usage.scrapeTimeout: 60000ms (set here) must be below sampleInterval (60000ms, set at line "
     "1)"},
    {NULL, NULL, 2000, NULL},
    {NULL, "5s", 5000, NULL},
    {NULL, "15s", 0,
     "usage.scrapeTimeout: 15000ms (set here) must be below sampleInterval (15000ms, the default)"},
};

START_TEST(test_cfg_scrape_timeout_follows_interval)
{
    char yaml[128] = "";
    struct cfg c;
    struct mb_diag d = {0};
    mb_err err;

    if (SCRAPE[_i].interval)
        snprintf(yaml, sizeof yaml, "sampleInterval: %s\n", SCRAPE[_i].interval);
    if (SCRAPE[_i].timeout)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "usage:\n  scrapeTimeout: %s\n",
                 SCRAPE[_i].timeout);
    err = cfg_parse(yaml, strlen(yaml), "t.yaml", &c, &d);
    if (!SCRAPE[_i].want_ms) {
        const char *msg = strchr(strchr(strchr(d.msg, ':') + 1, ':') + 1, ':') + 2;
        ck_assert_msg(err != MB_OK, "row %d accepted", _i);
        ck_assert_msg(!strncmp(msg, SCRAPE[_i].err, strlen(SCRAPE[_i].err)),
                      "row %d:\n got: %s\nwant: %s", _i, d.msg, SCRAPE[_i].err);
        return;
    }
    ck_assert_msg(err == MB_OK, "row %d: %s", _i, d.msg);
    ck_assert_uint_eq(c.usage.scrape_timeout_ms, SCRAPE[_i].want_ms);
    ck_assert_uint_lt(c.usage.scrape_timeout_ms, c.sample_interval_ms);
    cfg_cleanup(&c);
}
END_TEST

START_TEST(test_cfg_durations)
{
    uint64_t ms = 12345;
    bool ok = cfg_parse_duration(DUR[_i].in, &ms);

    ck_assert_msg(ok == DUR[_i].ok, "%s", DUR[_i].in);
    if (ok)
        ck_assert_msg(ms == DUR[_i].ms, "%s: %llu", DUR[_i].in, (unsigned long long)ms);
}
END_TEST

Suite *cfg_suite(void)
{
    Suite *s = suite_create("cfg");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, test_cfg_defaults_and_empty);
    tcase_add_test(tc, test_cfg_every_key);
    tcase_add_loop_test(tc, test_cfg_errors, 0, (int)MB_ARRAY_LEN(BAD));
    tcase_add_loop_test(tc, test_cfg_durations, 0, (int)MB_ARRAY_LEN(DUR));
    tcase_add_loop_test(tc, test_cfg_scrape_timeout_follows_interval, 0, (int)MB_ARRAY_LEN(SCRAPE));
    suite_add_tcase(s, tc);
    return s;
}
