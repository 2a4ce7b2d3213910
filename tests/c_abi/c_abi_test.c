/* The C ABI, from C: every function, bad arguments, and real round trips
 * against chat-server on 127.0.0.1. Usage: c_abi_test <chat-server> <case>.
 * Waits are deadline-based; nothing sleeps to "let things settle". */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *g_server_path;

static const int kAllCodes[] = {
    TETHER_OK,
    TETHER_E_INVALID_ARGUMENT, TETHER_E_INVALID_STATE, TETHER_E_OUTBOX_FULL, TETHER_E_MESSAGE_TOO_LARGE,
    TETHER_E_INVALID_JSON, TETHER_E_CLOSED, TETHER_E_IN_CALLBACK, TETHER_E_INVALID_UTF8,
    TETHER_E_CONNECT_FAILED, TETHER_E_CONNECT_TIMEOUT, TETHER_E_DNS_FAILED, TETHER_E_TLS_ERROR,
    TETHER_E_TLS_VERIFY_FAILED, TETHER_E_HANDSHAKE_FAILED, TETHER_E_HTTP_STATUS, TETHER_E_NOT_FOUND,
    TETHER_E_TRANSPORT_CLOSED, TETHER_E_HEARTBEAT_TIMEOUT, TETHER_E_AUTH_TIMEOUT, TETHER_E_PROXY_ERROR,
    TETHER_E_MESSAGE_TOO_BIG, TETHER_E_BAD_URL,
    TETHER_E_BAD_FRAME, TETHER_E_PROTOCOL_VERSION, TETHER_E_UNEXPECTED_FRAME, TETHER_E_SEQ_GAP,
    TETHER_E_ACK_OUT_OF_RANGE, TETHER_E_BINARY_FRAME, TETHER_E_FRAME_INVALID_JSON, TETHER_E_FRAME_NOT_OBJECT,
    TETHER_E_FRAME_MISSING_FIELD, TETHER_E_FRAME_WRONG_TYPE, TETHER_E_FRAME_SEQ_OUT_OF_RANGE,
    TETHER_E_FRAME_TOO_LARGE, TETHER_E_FRAME_TOO_DEEP,
    TETHER_E_UNAUTHORIZED, TETHER_E_FORBIDDEN, TETHER_E_TOKEN_EXPIRED, TETHER_E_SERVER_BUSY,
    TETHER_E_RATE_LIMITED, TETHER_E_SESSION_TAKEN_OVER, TETHER_E_GOING_AWAY, TETHER_E_SERVER_ERROR,
    TETHER_E_SESSION_LOST, TETHER_E_MAX_ATTEMPTS_EXCEEDED, TETHER_E_NO_TOKEN,
    TETHER_E_STORE_LOCKED, TETHER_E_STORE_CORRUPT, TETHER_E_STORE_FOREIGN, TETHER_E_STORE_NEWER_SCHEMA,
    TETHER_E_STORE_READ_ONLY, TETHER_E_STORE_DISK_FULL, TETHER_E_STORE_IO,
    TETHER_E_TIMEOUT, TETHER_E_NO_MEMORY, TETHER_E_INTERNAL,
};

/* What the round-trip cases start from: a fast backoff. */
static tether_client_options test_options(const char *url, const char *token) {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    o.url = url;
    o.token = token;
    o.backoff_base_ms = 20;
    o.backoff_max_ms = 200;
    return o;
}

static tether_client *create_client(const tether_client_options *o) {
    tether_client *c = NULL;
    const int rc = tether_client_create(o, &c);
    if (rc != TETHER_OK) fprintf(stderr, "create: %s: %s\n", tether_error_name(rc), tether_client_last_error(NULL));
    return c;
}

static tether_client *make_client(const char *url, const char *token) {
    const tether_client_options o = test_options(url, token);
    return create_client(&o);
}

/* ---- api: versions, codes, names ------------------------------------------ */

static void test_api(void) {
    size_t i, j;
    tether_event ev = TETHER_EVENT_INIT;

    CHECK(tether_version_number() == TETHER_VERSION_NUM);
    CHECK(strcmp(tether_version_string(), TETHER_VERSION_STRING) == 0);

    for (i = 0; i < sizeof kAllCodes / sizeof kAllCodes[0]; ++i) {
        const int code = kAllCodes[i];
        CHECK(tether_strerror(code) != NULL && strcmp(tether_strerror(code), "unknown error") != 0);
        CHECK(strcmp(tether_error_name(code), "unknown") != 0);
        CHECK(tether_error_is_local(code) == (code <= -1 && code >= -99));
        for (j = 0; j < i; ++j) CHECK(strcmp(tether_error_name(code), tether_error_name(kAllCodes[j])) != 0);
    }
    CHECK(strcmp(tether_error_name(TETHER_OK), "ok") == 0);
    CHECK(strcmp(tether_error_name(TETHER_E_OUTBOX_FULL), "outbox_full") == 0);
    CHECK(strcmp(tether_error_name(TETHER_E_UNAUTHORIZED), "unauthorized") == 0);
    CHECK(strcmp(tether_error_name(TETHER_E_TIMEOUT), "timeout") == 0);
    /* Unknown codes: never NULL, never a crash. */
    CHECK(strcmp(tether_strerror(-9), "unknown error") == 0);
    CHECK(strcmp(tether_strerror(1), "unknown error") == 0);
    CHECK(strcmp(tether_strerror(-2147483647 - 1), "unknown error") == 0);
    CHECK(strcmp(tether_error_name(-999), "unknown") == 0);
    CHECK(tether_error_is_local(-9) == 0);

    CHECK(strcmp(tether_state_name(TETHER_STATE_IDLE), "idle") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_CONNECTING), "connecting") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_AUTHENTICATING), "authenticating") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_READY), "ready") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_BACKOFF), "backoff") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_CLOSING), "closing") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_CLOSED), "closed") == 0);
    CHECK(strcmp(tether_state_name(TETHER_STATE_FAILED), "failed") == 0);
    CHECK(strcmp(tether_state_name(8), "unknown") == 0);
    CHECK(strcmp(tether_state_name(-1), "unknown") == 0);

    tether_event_free(NULL);
    tether_event_free(&ev); /* nothing owned: a no-op */
    CHECK(ev.struct_size == sizeof ev && ev.internal_ == NULL);
}

/* ---- args: NULL pointers, sizes, bad option values --------------------------- */

static int create_rc(const tether_client_options *o) {
    tether_client *c = (tether_client *)&c; /* create must reset it */
    int rc = tether_client_create(o, &c);
    if (rc == TETHER_OK) {
        tether_client_destroy(c);
    } else if (c != NULL) {
        return -12345;
    }
    return rc;
}

static void test_args(void) {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c = NULL;
    tether_event ev = TETHER_EVENT_INIT;
    tether_stats st = TETHER_STATS_INIT;
    uint64_t id = 0;
    int state = 0;
    size_t len = 0;
    char buf[8];
    const char *bad_headers[] = {"X-Ok: 1", "no colon here"};
    const char *crlf_headers[] = {"X-Evil: a\r\nInjected: b"};
    const char *null_headers[] = {NULL};
    const char *good_headers[] = {"X-Test: yes", "X-Other:no-space"};

    /* Every client function refuses a NULL client; destroy(NULL) is a no-op. */
    CHECK_RC(NULL, tether_client_destroy(NULL), TETHER_OK);
    CHECK_RC(NULL, tether_client_connect(NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK(strlen(tether_client_last_error(NULL)) > 0);
    CHECK_RC(NULL, tether_client_send(NULL, "1", 1, NULL, &id), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_close(NULL, 0), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_abort(NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_reconnect_now(NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_network_changed(NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_simulate_network_drop(NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_state(NULL, &state), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_stats(NULL, &st), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_session_id(NULL, buf, sizeof buf, &len), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_poll_event(NULL, &ev, 0), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, tether_client_wait_state(NULL, TETHER_STATE_BIT(TETHER_STATE_READY), 0, &state),
             TETHER_E_INVALID_ARGUMENT);

    /* create */
    CHECK_RC(NULL, tether_client_create(NULL, &c), TETHER_E_INVALID_ARGUMENT);
    CHECK(c == NULL);
    o.url = "ws://127.0.0.1:9/ws";
    CHECK_RC(NULL, tether_client_create(&o, NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);

    o.struct_size = 0;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    CHECK(strstr(tether_client_last_error(NULL), "struct_size") != NULL);
    o.struct_size = TETHER_CLIENT_OPTIONS_SIZE_V1 - 8; /* neither layout */
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.struct_size = sizeof o + 8; /* a newer header than this library */
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.struct_size = TETHER_CLIENT_OPTIONS_SIZE_V2; /* layout 2: no report_sent */
    o.report_sent = 7;                            /* past the caller's struct: ignored */
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.struct_size = sizeof o;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    CHECK(strstr(tether_client_last_error(NULL), "report_sent") != NULL);
    o.report_sent = 0;
    o.struct_size = TETHER_CLIENT_OPTIONS_SIZE_V3; /* layout 3: no commit interval */
    o.heartbeat_probe_timeout_ms = -5;             /* past the caller's struct: ignored */
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.struct_size = sizeof o;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    CHECK(strstr(tether_client_last_error(NULL), "heartbeat_probe_timeout_ms") != NULL);
    o.heartbeat_probe_timeout_ms = 0;
    o.persistence_commit_interval_ms = TETHER_COMMIT_EVERY_TURN;
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.persistence_commit_interval_ms = -2;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    CHECK(strstr(tether_client_last_error(NULL), "persistence_commit_interval_ms") != NULL);
    o.persistence_commit_interval_ms = 0;

    o.url = NULL;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.url = "";
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.url = "http://127.0.0.1:9/ws";
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.url = "ws://127.0.0.1:9/\xff\xfe";
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_UTF8);
    o.url = "ws://127.0.0.1:9/ws";

    o.token = "bad\xc3\x28";
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_UTF8);
    o.token = "good-\xc3\xa9";
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.token = NULL;
    o.client_name = "\xed\xa0\x80"; /* a UTF-16 surrogate: not UTF-8 */
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_UTF8);
    o.client_name = NULL;

    o.header_count = 2;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT); /* NULL array, count 2 */
    o.headers = bad_headers;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.headers = good_headers;
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.headers = null_headers;
    o.header_count = 1;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.headers = crlf_headers;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.headers = NULL;
    o.header_count = 0;

    o.heartbeat_interval_ms = -1;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.heartbeat_interval_ms = 1; /* below the SDK's 10 ms floor */
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.heartbeat_interval_ms = 0;
    o.backoff_base_ms = 500;
    o.backoff_max_ms = 100; /* max < base */
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.backoff_base_ms = 0;
    o.backoff_max_ms = 0;
    o.close_drain_ms = -5;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.close_drain_ms = 0;
    o.outbox_max_message_bytes = 100;
    o.outbox_max_bytes = 50; /* message limit above the total */
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.outbox_max_message_bytes = 0;
    o.outbox_max_bytes = 0;

    /* Out-of-range enums and flags. */
    o.session_lost_policy = 2;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.session_lost_policy = -1;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.session_lost_policy = TETHER_SESSION_LOST_FAIL;
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.session_lost_policy = 0;
    o.log_level = 6;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.log_level = -1;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.log_level = TETHER_LOG_ERROR;
    CHECK_RC(NULL, create_rc(&o), TETHER_OK);
    o.log_level = 0;
    o.tls_insecure_skip_verify = 2;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.tls_insecure_skip_verify = 0;
    o.reserved0_ = 1;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.reserved0_ = 0;
    o.tls_pinned_spki_count = 1;
    CHECK_RC(NULL, create_rc(&o), TETHER_E_INVALID_ARGUMENT);
    o.tls_pinned_spki_count = 0;

    /* Per-client argument checks on a live (idle) client. */
    c = make_client("ws://127.0.0.1:9/ws", NULL);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_state(c, NULL), TETHER_E_INVALID_ARGUMENT);
    CHECK(strstr(tether_client_last_error(c), "state_out") != NULL);
    CHECK_RC(c, tether_client_stats(c, NULL), TETHER_E_INVALID_ARGUMENT);
    st.struct_size = 8;
    CHECK_RC(c, tether_client_stats(c, &st), TETHER_E_INVALID_ARGUMENT);
    st.struct_size = sizeof st;
    {
        /* A newer header's larger output structs: the known prefix is filled,
         * the tail is left alone, struct_size is kept. */
        struct {
            tether_stats s;
            uint64_t tail;
        } big_stats;
        struct {
            tether_event e;
            uint64_t tail;
        } big_event;
        memset(&big_stats, 0, sizeof big_stats);
        big_stats.s.struct_size = sizeof big_stats;
        big_stats.tail = 0x5a5a;
        CHECK_RC(c, tether_client_stats(c, &big_stats.s), TETHER_OK);
        CHECK(big_stats.s.struct_size == sizeof big_stats && big_stats.tail == 0x5a5a);
        memset(&big_event, 0, sizeof big_event);
        big_event.e.struct_size = sizeof big_event;
        big_event.tail = 0x5a5a;
        CHECK_RC(c, tether_client_abort(c), TETHER_OK);
        CHECK_RC(c, tether_client_poll_event(c, &big_event.e, 1000), TETHER_OK);
        CHECK(big_event.e.type == TETHER_EVENT_STATE && big_event.e.state_to == TETHER_STATE_CLOSED);
        CHECK(big_event.e.struct_size == sizeof big_event && big_event.tail == 0x5a5a);
        tether_event_free(&big_event.e);
        CHECK(big_event.e.struct_size == sizeof big_event && big_event.e.internal_ == NULL);
    }
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    c = make_client("ws://127.0.0.1:9/ws", NULL);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_session_id(c, NULL, 4, &len), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(c, tether_client_session_id(c, NULL, 0, NULL), TETHER_OK);
    CHECK_RC(c, tether_client_poll_event(c, NULL, 0), TETHER_E_INVALID_ARGUMENT);
    ev.struct_size = 0;
    CHECK_RC(c, tether_client_poll_event(c, &ev, 0), TETHER_E_INVALID_ARGUMENT);
    ev.struct_size = sizeof ev - 1;
    CHECK_RC(c, tether_client_poll_event(c, &ev, 0), TETHER_E_INVALID_ARGUMENT);
    ev.struct_size = sizeof ev;
    CHECK_RC(c, tether_client_wait_state(c, 0, 0, &state), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(c, tether_client_wait_state(c, 1u << 8, 0, &state), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(c, tether_client_wait_state(c, 0xffffffffu, 0, &state), TETHER_E_INVALID_ARGUMENT);

    /* send: NULL, not JSON, not UTF-8, bad ids. */
    CHECK_RC(c, tether_client_send(c, NULL, 0, NULL, &id), TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(c, tether_client_send(c, "", 0, NULL, &id), TETHER_E_INVALID_JSON);
    CHECK_RC(c, tether_client_send(c, "{\"a\":", 5, NULL, &id), TETHER_E_INVALID_JSON);
    CHECK_RC(c, tether_client_send(c, "{} {}", 5, NULL, &id), TETHER_E_INVALID_JSON);
    CHECK_RC(c, tether_client_send(c, "[1,2", 4, NULL, &id), TETHER_E_INVALID_JSON);
    CHECK_RC(c, tether_client_send(c, "{\"a\":1}", 3, NULL, &id), TETHER_E_INVALID_JSON); /* length counts */
    CHECK_RC(c, tether_client_send(c, "\"a\0b\"", 5, NULL, &id), TETHER_E_INVALID_JSON);  /* raw NUL */
    CHECK(id == 0);
    CHECK_RC(c, tether_client_send(c, "\"\xff\"", 3, NULL, &id), TETHER_E_INVALID_UTF8);
    CHECK_RC(c, tether_client_send(c, "{\"t\":\"\xc3\x28\"}", 10, NULL, &id), TETHER_E_INVALID_UTF8);
    CHECK(tether_client_send(c, "1", 1, "\xff", &id) < 0);
    CHECK(strlen(tether_client_last_error(c)) > 0);
    /* Valid payloads queue in idle (any JSON value). */
    CHECK_RC(c, tether_client_send(c, "{\"t\":\"\xc3\xa9\"}", 10, NULL, &id), TETHER_OK);
    CHECK(id != 0);
    CHECK_RC(c, tether_client_send(c, "null", 4, "my-id", NULL), TETHER_OK);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
}

/* ---- idle: every call on a client that never connects ------------------------ */

static void test_idle(void) {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c = NULL;
    tether_event ev = TETHER_EVENT_INIT;
    tether_stats st = TETHER_STATS_INIT;
    uint64_t id1 = 0, id2 = 0, id3 = 0;
    int state = -1, failed = 0, saw_closed = 0, rc;
    size_t len = 99;
    char buf[16] = "xxxx";
    int64_t t0;

    o.url = "ws://127.0.0.1:9/ws";
    o.outbox_max_messages = 2;
    o.outbox_max_message_bytes = 1024;
    CHECK_RC(NULL, tether_client_create(&o, &c), TETHER_OK);
    REQUIRE(c != NULL);

    CHECK_RC(c, tether_client_state(c, &state), TETHER_OK);
    CHECK(state == TETHER_STATE_IDLE);
    CHECK_RC(c, tether_client_session_id(c, buf, sizeof buf, &len), TETHER_OK);
    CHECK(len == 0 && buf[0] == '\0');
    CHECK_RC(c, tether_client_stats(c, &st), TETHER_OK);
    CHECK(st.struct_size == sizeof st && st.connect_attempts == 0 && st.outbox_depth == 0);

    /* Bounds: one message too large, then the count limit. */
    {
        char big[2048];
        memset(big, ' ', sizeof big);
        big[0] = '"';
        big[sizeof big - 1] = '"';
        CHECK_RC(c, tether_client_send(c, big, sizeof big, NULL, &id1), TETHER_E_MESSAGE_TOO_LARGE);
    }
    CHECK_RC(c, tether_client_send(c, "1", 1, NULL, &id1), TETHER_OK);
    CHECK_RC(c, tether_client_send(c, "2", 1, NULL, &id2), TETHER_OK);
    CHECK_RC(c, tether_client_send(c, "3", 1, NULL, &id3), TETHER_E_OUTBOX_FULL);
    CHECK(id1 != 0 && id2 != 0 && id1 != id2 && id3 == 0);
    CHECK_RC(c, tether_client_stats(c, &st), TETHER_OK);
    CHECK(st.outbox_depth == 2 && st.caller_errors >= 2);

    /* Nothing to poll or wait for yet: bounded waits time out. */
    t0 = h_now_ms();
    CHECK_RC(c, tether_client_poll_event(c, &ev, 0), TETHER_E_TIMEOUT);
    CHECK_RC(c, tether_client_poll_event(c, &ev, 50), TETHER_E_TIMEOUT);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 50, &state), TETHER_E_TIMEOUT);
    CHECK(state == TETHER_STATE_IDLE);
    CHECK(h_now_ms() - t0 >= 90);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_IDLE), 0, &state), TETHER_OK);

    CHECK_RC(c, tether_client_reconnect_now(c), TETHER_E_INVALID_STATE);
    CHECK_RC(c, tether_client_network_changed(c), TETHER_E_INVALID_STATE);
    CHECK_RC(c, tether_client_simulate_network_drop(c), TETHER_E_INVALID_STATE);

    /* abort: idle -> closed; the queued messages fail with closed. */
    CHECK_RC(c, tether_client_abort(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 1000, &state), TETHER_E_CLOSED);
    CHECK(state == TETHER_STATE_CLOSED);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_CLOSED), 0, &state), TETHER_OK);
    while ((rc = tether_client_poll_event(c, &ev, 1000)) == TETHER_OK) {
        if (ev.type == TETHER_EVENT_FAILED) {
            CHECK(ev.error == TETHER_E_CLOSED);
            CHECK(ev.id == id1 || ev.id == id2);
            CHECK(ev.message_id != NULL && strlen(ev.message_id) > 0);
            ++failed;
        } else if (ev.type == TETHER_EVENT_STATE) {
            CHECK(ev.state_from == TETHER_STATE_IDLE && ev.state_to == TETHER_STATE_CLOSED);
            CHECK(ev.detail != NULL && ev.data != NULL && ev.data_len == 0 && ev.message_id == NULL);
            saw_closed = 1;
        }
        tether_event_free(&ev);
        CHECK(ev.internal_ == NULL && ev.struct_size == sizeof ev);
    }
    CHECK_RC(c, rc, TETHER_E_CLOSED);
    CHECK(failed == 2 && saw_closed);
    CHECK_RC(c, tether_client_poll_event(c, &ev, -1), TETHER_E_CLOSED); /* never blocks once drained */

    /* Everything after the end. */
    CHECK_RC(c, tether_client_connect(c), TETHER_E_INVALID_STATE);
    CHECK_RC(c, tether_client_send(c, "1", 1, NULL, &id1), TETHER_E_CLOSED);
    CHECK_RC(c, tether_client_close(c, -1), TETHER_E_CLOSED);
    CHECK_RC(c, tether_client_abort(c), TETHER_E_CLOSED);
    CHECK_RC(c, tether_client_reconnect_now(c), TETHER_E_CLOSED);
    CHECK_RC(c, tether_client_network_changed(c), TETHER_E_CLOSED);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
}

/* ---- echo: a real round trip, resume, reconnect, graceful close ------------- */

static void test_echo(void) {
    const char *args[] = {"--echo", NULL};
    h_server server;
    tether_client *c;
    tether_event ev = TETHER_EVENT_INIT;
    tether_stats st = TETHER_STATS_INIT;
    uint64_t ids[20];
    int next_echo = 0, acked = 0, state = -1, rc, i;
    char session[64], session2[64];
    size_t len = 0;
    int64_t deadline;

    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);
    c = make_client(server.url, NULL);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_connect(c), TETHER_E_INVALID_STATE);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    CHECK(state == TETHER_STATE_READY);
    CHECK_RC(c, tether_client_session_id(c, session, sizeof session, &len), TETHER_OK);
    CHECK(len > 0 && len == strlen(session));
    CHECK_RC(c, tether_client_session_id(c, session2, 4, NULL), TETHER_OK); /* truncated, terminated */
    CHECK(strlen(session2) == 3 && strncmp(session, session2, 3) == 0);

    for (i = 0; i < 20; ++i) {
        char json[64], mid[32];
        snprintf(json, sizeof json, "{\"n\":%d,\"text\":\"caf\xc3\xa9\"}", i);
        snprintf(mid, sizeof mid, "m-%d", i);
        CHECK_RC(c, tether_client_send(c, json, strlen(json), mid, &ids[i]), TETHER_OK);
    }
    deadline = h_now_ms() + 10000;
    while ((next_echo < 20 || acked < 20) && h_now_ms() < deadline) {
        rc = tether_client_poll_event(c, &ev, 100);
        if (rc == TETHER_E_TIMEOUT) continue;
        CHECK_RC(c, rc, TETHER_OK);
        if (rc != TETHER_OK) break;
        if (ev.type == TETHER_EVENT_MESSAGE) {
            char want[128], mid[32];
            snprintf(want, sizeof want, "{\"echo\":{\"n\":%d,\"text\":\"caf\xc3\xa9\"},\"id\":\"m-%d\"}", next_echo,
                     next_echo);
            snprintf(mid, sizeof mid, "m-%d", next_echo);
            CHECK(strcmp(ev.data, want) == 0);
            CHECK(ev.data_len == strlen(want));
            CHECK(ev.message_id != NULL && strcmp(ev.message_id, mid) == 0);
            CHECK(ev.seq == (uint64_t)next_echo + 1);
            ++next_echo;
        } else if (ev.type == TETHER_EVENT_ACKED) {
            CHECK(ev.id == ids[acked]); /* cumulative acks arrive in order */
            ++acked;
        }
        tether_event_free(&ev);
    }
    CHECK(next_echo == 20 && acked == 20);
    CHECK_RC(c, tether_client_stats(c, &st), TETHER_OK);
    CHECK(st.connects == 1 && st.messages_sent == 20 && st.messages_acked == 20 && st.messages_received == 20);
    CHECK(st.outbox_depth == 0 && st.frames_in > 0 && st.bytes_out > 0);

    /* A cut connection resumes the same session. */
    CHECK_RC(c, tether_client_simulate_network_drop(c), TETHER_OK);
    CHECK_RC(c, h_poll_for(c, TETHER_EVENT_RESUMED, &ev, 10000, NULL), TETHER_OK);
    CHECK(strcmp(ev.session, session) == 0);
    tether_event_free(&ev);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    CHECK_RC(c, tether_client_send(c, "[\"after\"]", 9, NULL, &ids[0]), TETHER_OK);
    CHECK_RC(c, h_poll_for(c, TETHER_EVENT_MESSAGE, &ev, 10000, NULL), TETHER_OK);
    CHECK(strstr(ev.data, "\"after\"") != NULL);
    tether_event_free(&ev);

    /* reconnect_now replaces the connection, and resumes. */
    CHECK_RC(c, tether_client_reconnect_now(c), TETHER_OK);
    CHECK_RC(c, h_poll_for(c, TETHER_EVENT_RESUMED, &ev, 10000, NULL), TETHER_OK);
    tether_event_free(&ev);
    CHECK_RC(c, tether_client_stats(c, &st), TETHER_OK);
    CHECK(st.resumes == 2 && st.reconnects == 2);

    /* Graceful close: closing -> closed with no reason, then the stream ends. */
    CHECK_RC(c, tether_client_close(c, 2000), TETHER_OK);
    CHECK_RC(c, tether_client_close(c, 2000), TETHER_E_INVALID_STATE);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_CLOSED), 10000, &state), TETHER_OK);
    CHECK_RC(c, h_poll_for(c, TETHER_EVENT_STATE, &ev, 1000, NULL), TETHER_OK);
    while (ev.type == TETHER_EVENT_STATE && ev.state_to != TETHER_STATE_CLOSED) {
        tether_event_free(&ev);
        if (h_poll_for(c, TETHER_EVENT_STATE, &ev, 1000, NULL) != TETHER_OK) break;
    }
    CHECK(ev.state_to == TETHER_STATE_CLOSED && ev.error == TETHER_OK);
    tether_event_free(&ev);
    CHECK_RC(c, tether_client_poll_event(c, &ev, 1000), TETHER_E_CLOSED);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    h_server_stop(&server);
}

/* ---- callbacks: SDK-thread callbacks, the rules inside them ----------------- */

typedef struct cb_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tether_client *client;
    int messages, states, logs, after_destroy_check;
    int rc_destroy, rc_poll, rc_wait, rc_send, rc_state;
    int ready;
    int slow;           /* sleep in the message callback */
    int entered, finished;
} cb_state;

static void on_event(const tether_event *ev, void *user_data) {
    cb_state *s = (cb_state *)user_data;
    pthread_mutex_lock(&s->mu);
    if (ev->type == TETHER_EVENT_STATE) {
        ++s->states;
        if (ev->state_to == TETHER_STATE_READY) s->ready = 1;
    }
    if (ev->type == TETHER_EVENT_MESSAGE) {
        ++s->messages;
        s->entered = 1;
        pthread_cond_broadcast(&s->cv);
        if (s->messages == 1) {
            tether_event e = TETHER_EVENT_INIT;
            int st = -1;
            pthread_mutex_unlock(&s->mu);
            s->rc_destroy = tether_client_destroy(s->client);
            s->rc_poll = tether_client_poll_event(s->client, &e, 0);
            s->rc_wait = tether_client_wait_state(s->client, TETHER_STATE_BIT(TETHER_STATE_READY), 0, &st);
            s->rc_state = tether_client_state(s->client, &st);
            s->rc_send = tether_client_send(s->client, "\"reply\"", 7, NULL, NULL); /* calls back in: fine */
            pthread_mutex_lock(&s->mu);
        }
        if (s->slow) {
            pthread_mutex_unlock(&s->mu);
            h_sleep_ms(300);
            pthread_mutex_lock(&s->mu);
            s->finished = 1;
        }
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_log(int level, const char *message, void *user_data) {
    cb_state *s = (cb_state *)user_data;
    if (level < TETHER_LOG_TRACE || level > TETHER_LOG_ERROR || message == NULL) return;
    pthread_mutex_lock(&s->mu);
    ++s->logs;
    pthread_mutex_unlock(&s->mu);
}

static int wait_for(cb_state *s, const int *value, int want, int timeout_ms) {
    const int64_t deadline = h_now_ms() + timeout_ms;
    int ok;
    pthread_mutex_lock(&s->mu);
    while (*value < want && h_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec += 1;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    ok = *value >= want;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static tether_client *make_cb_client(const char *url, cb_state *s) {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c = NULL;
    o.url = url;
    o.event_callback = on_event;
    o.log_callback = on_log;
    o.log_level = TETHER_LOG_TRACE;
    o.user_data = s;
    if (tether_client_create(&o, &c) != TETHER_OK) return NULL;
    s->client = c;
    return c;
}

static void test_callbacks(void) {
    const char *args[] = {"--echo", NULL};
    h_server server;
    cb_state s;
    tether_client *c;
    tether_event ev = TETHER_EVENT_INIT;
    int state = -1, count;

    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);
    c = make_cb_client(server.url, &s);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_poll_event(c, &ev, 0), TETHER_E_INVALID_STATE); /* callback mode: no queue */
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    CHECK(wait_for(&s, &s.ready, 1, 1000));
    CHECK_RC(c, tether_client_send(c, "{\"hello\":1}", 11, NULL, NULL), TETHER_OK);
    CHECK(wait_for(&s, &s.messages, 2, 10000)); /* the echo, then the echo of the reply */
    CHECK_RC(c, s.rc_destroy, TETHER_E_IN_CALLBACK);
    CHECK_RC(c, s.rc_poll, TETHER_E_IN_CALLBACK);
    CHECK_RC(c, s.rc_wait, TETHER_E_IN_CALLBACK);
    CHECK_RC(c, s.rc_state, TETHER_OK);
    CHECK_RC(c, s.rc_send, TETHER_OK);
    CHECK(s.states >= 3 && s.logs > 0);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    pthread_mutex_lock(&s.mu);
    count = s.states + s.messages + s.logs;
    pthread_mutex_unlock(&s.mu);
    h_sleep_ms(100); /* proving a negative: nothing more may arrive */
    pthread_mutex_lock(&s.mu);
    CHECK(count == s.states + s.messages + s.logs);
    pthread_mutex_unlock(&s.mu);
    h_server_stop(&server);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
}

/* destroy from another thread returns only after a running callback. */
static void test_destroy_waits(void) {
    const char *args[] = {"--echo", NULL};
    h_server server;
    cb_state s;
    tether_client *c;
    int state = -1, finished;

    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.slow = 1;
    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);
    c = make_cb_client(server.url, &s);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    CHECK_RC(c, tether_client_send(c, "1", 1, NULL, NULL), TETHER_OK);
    CHECK(wait_for(&s, &s.entered, 1, 10000));
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK); /* the callback is sleeping now */
    pthread_mutex_lock(&s.mu);
    finished = s.finished;
    pthread_mutex_unlock(&s.mu);
    CHECK(finished == 1);
    h_server_stop(&server);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
}

/* ---- auth: a refused token fails the client with unauthorized --------------- */

static void test_auth(void) {
    const char *args[] = {"--tokens", "good,other", NULL};
    h_server server;
    tether_client *bad, *good;
    tether_event ev = TETHER_EVENT_INIT;
    int state = -1;

    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);
    bad = make_client(server.url, "wrong");
    good = make_client(server.url, "good");
    REQUIRE(bad != NULL && good != NULL);
    CHECK_RC(bad, tether_client_connect(bad), TETHER_OK);
    CHECK_RC(good, tether_client_connect(good), TETHER_OK);
    CHECK_RC(bad, tether_client_wait_state(bad, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state),
             TETHER_E_UNAUTHORIZED);
    CHECK(state == TETHER_STATE_FAILED);
    CHECK(strlen(tether_client_last_error(bad)) > 0);
    CHECK_RC(good, tether_client_wait_state(good, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    for (;;) {
        CHECK_RC(bad, h_poll_for(bad, TETHER_EVENT_STATE, &ev, 5000, NULL), TETHER_OK);
        if (ev.type != TETHER_EVENT_STATE || ev.state_to == TETHER_STATE_FAILED) break;
        tether_event_free(&ev);
    }
    CHECK(ev.state_to == TETHER_STATE_FAILED && ev.error == TETHER_E_UNAUTHORIZED);
    tether_event_free(&ev);
    CHECK_RC(bad, tether_client_poll_event(bad, &ev, 1000), TETHER_E_CLOSED);
    CHECK_RC(bad, tether_client_destroy(bad), TETHER_OK);
    CHECK_RC(good, tether_client_destroy(good), TETHER_OK);
    h_server_stop(&server);
}

/* ---- rooms: relay between two clients, frame ids kept ------------------------ */

static void test_rooms(void) {
    h_server server;
    tether_client *a, *b;
    tether_event ev = TETHER_EVENT_INIT;
    uint64_t join_a = 0, join_b = 0;
    int state = -1;
    const char *join = "{\"room\":\"lobby\"}";
    /* Keys in sorted order: the SDK re-serializes data with sorted keys. */
    const char *text = "{\"nick\":\"ann\",\"room\":\"lobby\",\"text\":\"hi \xe2\x9c\x93\"}";

    REQUIRE(h_server_start(&server, g_server_path, 0, NULL) == 0);
    a = make_client(server.url, NULL);
    b = make_client(server.url, NULL);
    REQUIRE(a != NULL && b != NULL);
    CHECK_RC(a, tether_client_connect(a), TETHER_OK);
    CHECK_RC(b, tether_client_connect(b), TETHER_OK);
    CHECK_RC(a, tether_client_send(a, join, strlen(join), NULL, &join_a), TETHER_OK);
    CHECK_RC(b, tether_client_send(b, join, strlen(join), NULL, &join_b), TETHER_OK);
    /* An ack means the server processed the join. */
    CHECK_RC(a, h_poll_for(a, TETHER_EVENT_ACKED, &ev, 10000, NULL), TETHER_OK);
    CHECK(ev.id == join_a);
    tether_event_free(&ev);
    CHECK_RC(b, h_poll_for(b, TETHER_EVENT_ACKED, &ev, 10000, NULL), TETHER_OK);
    CHECK(ev.id == join_b);
    tether_event_free(&ev);
    CHECK_RC(a, tether_client_wait_state(a, TETHER_STATE_BIT(TETHER_STATE_READY), 0, &state), TETHER_OK);

    CHECK_RC(a, tether_client_send(a, text, strlen(text), "hello-1", NULL), TETHER_OK);
    CHECK_RC(b, h_poll_for(b, TETHER_EVENT_MESSAGE, &ev, 10000, NULL), TETHER_OK);
    CHECK(strcmp(ev.data, text) == 0);
    CHECK(ev.message_id != NULL && strcmp(ev.message_id, "hello-1") == 0);
    tether_event_free(&ev);
    CHECK_RC(a, h_poll_for(a, TETHER_EVENT_MESSAGE, &ev, 10000, NULL), TETHER_OK); /* the sender too */
    CHECK(strcmp(ev.data, text) == 0);
    tether_event_free(&ev);
    /* Destroy with events still queued: they are dropped, nothing leaks. */
    CHECK_RC(a, tether_client_destroy(a), TETHER_OK);
    CHECK_RC(b, tether_client_destroy(b), TETHER_OK);
    h_server_stop(&server);
}

/* ---- refused: nothing listening; backoff, then failed --------------------------- */

static void test_refused(void) {
    h_server server;
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c = NULL;
    tether_event ev = TETHER_EVENT_INIT;
    int state = -1, backoffs = 0, rc;

    REQUIRE(h_server_start(&server, g_server_path, 0, NULL) == 0);
    h_server_stop(&server); /* a port that refuses connections */
    o.url = server.url;
    o.backoff_base_ms = 10;
    o.backoff_max_ms = 20;
    o.backoff_max_attempts = 3;
    CHECK_RC(NULL, tether_client_create(&o, &c), TETHER_OK);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state),
             TETHER_E_MAX_ATTEMPTS_EXCEEDED);
    CHECK(state == TETHER_STATE_FAILED);
    while ((rc = tether_client_poll_event(c, &ev, 1000)) == TETHER_OK) {
        if (ev.type == TETHER_EVENT_STATE && ev.state_to == TETHER_STATE_BACKOFF) {
            CHECK(ev.error == TETHER_E_CONNECT_FAILED);
            CHECK(ev.retry_in_ms >= 0 && ev.retry_in_ms <= 20);
            CHECK(ev.attempt == (uint64_t)backoffs + 1);
            ++backoffs;
        }
        tether_event_free(&ev);
    }
    CHECK_RC(c, rc, TETHER_E_CLOSED);
    CHECK(backoffs == 2);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
}

/* ---- token callback: asked before every connection, refresh after token_expired */

typedef struct token_state {
    pthread_mutex_t mu;
    int calls;
    int refresh[8];
    const char *tokens[8]; /* what call i gives; NULL: no token */
    int rc_set, rc_bad_utf8, rc_null_token, rc_null_request, rc_destroy;
    tether_client *client;
} token_state;

static void on_token(tether_token_request *request, int refresh, void *user_data) {
    token_state *s = (token_state *)user_data;
    const char *token;
    int i;
    pthread_mutex_lock(&s->mu);
    i = s->calls++;
    token = i < 8 ? s->tokens[i] : NULL;
    if (i < 8) s->refresh[i] = refresh;
    s->rc_bad_utf8 = tether_token_request_set(request, "bad\xc3\x28", 5);
    s->rc_null_token = tether_token_request_set(request, NULL, 0);
    s->rc_null_request = tether_token_request_set(NULL, "x", 1);
    s->rc_destroy = tether_client_destroy(s->client);
    if (token != NULL) s->rc_set = tether_token_request_set(request, token, strlen(token));
    pthread_mutex_unlock(&s->mu);
}

static int token_calls(token_state *s) {
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->calls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static tether_client *make_token_client(const char *url, token_state *s, const char *static_token) {
    tether_client_options o = test_options(url, static_token); /* the callback overrides the token */
    o.token_callback = on_token;
    o.user_data = s;
    s->client = create_client(&o);
    return s->client;
}

static void test_token(void) {
    const char *args[] = {"--tokens", "good", "--expired-tokens", "old", NULL};
    h_server server;
    token_state s;
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c;
    tether_event ev = TETHER_EVENT_INIT;
    int state = -1;

    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);

    /* "old" is expired: the server says token_expired, the callback is asked
     * again with refresh = 1 and "good" gets in; a reconnect asks again. */
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.tokens[0] = "old";
    s.tokens[1] = "good";
    s.tokens[2] = "good";
    c = make_token_client(server.url, &s, "static-token-not-accepted");
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    CHECK(token_calls(&s) == 2);
    CHECK(s.refresh[0] == 0 && s.refresh[1] == 1);
    CHECK_RC(c, s.rc_set, TETHER_OK);
    CHECK_RC(c, s.rc_bad_utf8, TETHER_E_INVALID_UTF8);
    CHECK_RC(c, s.rc_null_token, TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(c, s.rc_null_request, TETHER_E_INVALID_ARGUMENT);
    CHECK_RC(c, s.rc_destroy, TETHER_E_IN_CALLBACK);
    CHECK_RC(c, tether_client_simulate_network_drop(c), TETHER_OK);
    CHECK_RC(c, h_poll_for(c, TETHER_EVENT_RESUMED, &ev, 10000, NULL), TETHER_OK);
    tether_event_free(&ev);
    CHECK(token_calls(&s) == 3);
    CHECK(s.refresh[2] == 0);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    pthread_mutex_destroy(&s.mu);

    /* No fresh token after token_expired: the client fails with no_token. */
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.tokens[0] = "old";
    c = make_token_client(server.url, &s, NULL);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state),
             TETHER_E_NO_TOKEN);
    CHECK(state == TETHER_STATE_FAILED);
    CHECK(token_calls(&s) == 2 && s.refresh[1] == 1);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    pthread_mutex_destroy(&s.mu);

    /* A caller built against layout 1 (no token_callback field): accepted,
     * and nothing past its struct_size is read. */
    memset(&s, 0, sizeof s);
    o.struct_size = TETHER_CLIENT_OPTIONS_SIZE_V1;
    o.url = server.url;
    o.token = "good";
    o.token_callback = on_token; /* past the caller's struct: must be ignored */
    o.user_data = &s;
    c = NULL;
    CHECK_RC(NULL, tether_client_create(&o, &c), TETHER_OK);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);
    CHECK(s.calls == 0);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    o.struct_size = TETHER_CLIENT_OPTIONS_SIZE_V1 + sizeof(void *) / 2; /* no such layout */
    CHECK_RC(NULL, tether_client_create(&o, &c), TETHER_E_INVALID_ARGUMENT);
    CHECK(c == NULL);
    CHECK(strstr(tether_client_last_error(NULL), "struct_size") != NULL);

    h_server_stop(&server);
}

/* ---- persist: a store survives the client; a second opener is refused ---- */

static void test_persist(void) {
    const char *args[] = {"--echo", NULL};
    h_server server;
    char dir[] = "/tmp/tether-c-persist-XXXXXX";
    char path[128], json[32];
    tether_client_options o;
    tether_client *c = NULL, *second = NULL;
    tether_event ev = TETHER_EVENT_INIT;
    uint64_t messages = 99, total = 99, id = 0;
    int i, acked = 0, rc, skipped = 0;
    int64_t deadline;

    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/client.db", dir);
    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);
    o = test_options(server.url, NULL);
    o.persistence_path = path;
    o.persistence_durability = TETHER_DURABILITY_FULL;
    c = create_client(&o);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_recovered(c, &messages, &total), TETHER_OK);
    CHECK(messages == 0 && total == 0);
    for (i = 1; i <= 5; ++i) { /* offline: never connected */
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        CHECK_RC(c, tether_client_send(c, json, strlen(json), NULL, &id), TETHER_OK);
    }
    CHECK(h_poll_for(c, TETHER_EVENT_DURABLE, &ev, 5000, &skipped) == TETHER_OK);
    CHECK(ev.id >= 1 && ev.id <= 5);
    tether_event_free(&ev);

    CHECK_RC(NULL, tether_client_create(&o, &second), TETHER_E_STORE_LOCKED);
    CHECK(second == NULL);
    CHECK(strstr(tether_client_last_error(NULL), "client.db") != NULL);
    CHECK(strcmp(tether_error_name(TETHER_E_STORE_LOCKED), "store_locked") == 0);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);

    o.persistence_durability = 7;
    CHECK_RC(NULL, tether_client_create(&o, &second), TETHER_E_INVALID_ARGUMENT);
    o.persistence_durability = TETHER_DURABILITY_NORMAL;
    c = create_client(&o);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_recovered(c, &messages, &total), TETHER_OK);
    CHECK(messages == 5 && total == 5);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    deadline = h_now_ms() + 10000;
    while (acked < 5 && h_now_ms() < deadline) {
        rc = tether_client_poll_event(c, &ev, 200);
        if (rc == TETHER_OK && ev.type == TETHER_EVENT_ACKED) {
            CHECK(ev.id >= 1 && ev.id <= 5); /* the recovered messages have ids 1..5 */
            ++acked;
        }
        tether_event_free(&ev);
    }
    CHECK(acked == 5);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);

    /* A layout-2 caller (no persistence fields) is accepted and persists nothing. */
    o.struct_size = TETHER_CLIENT_OPTIONS_SIZE_V2;
    c = NULL;
    CHECK_RC(NULL, tether_client_create(&o, &c), TETHER_OK);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_recovered(c, &messages, &total), TETHER_OK);
    CHECK(messages == 0 && total == 0);
    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);

    h_server_stop(&server);
    unlink(path);
    rmdir(dir);
}

/* ---- lifecycle: SENT events, network_changed, the older stats layout --------- */

static void test_lifecycle(void) {
    const char *args[] = {"--echo", NULL};
    h_server server;
    tether_client *c;
    tether_client_options o;
    tether_event ev = TETHER_EVENT_INIT;
    tether_stats st = TETHER_STATS_INIT;
    uint64_t id = 0;
    int state = -1, sent = 0, acked = 0, rc;
    int64_t deadline;

    REQUIRE(h_server_start(&server, g_server_path, 0, args) == 0);
    o = test_options(server.url, NULL);
    o.report_sent = 1;
    o.backoff_base_ms = 60000; /* a backoff that network_changed must cut short */
    o.backoff_max_ms = 60000;
    c = create_client(&o);
    REQUIRE(c != NULL);
    CHECK_RC(c, tether_client_connect(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);

    /* SENT, then ACKED, for the same id. */
    CHECK_RC(c, tether_client_send(c, "1", 1, NULL, &id), TETHER_OK);
    deadline = h_now_ms() + 10000;
    while (acked == 0 && h_now_ms() < deadline) {
        rc = tether_client_poll_event(c, &ev, 100);
        if (rc == TETHER_E_TIMEOUT) continue;
        CHECK_RC(c, rc, TETHER_OK);
        if (rc != TETHER_OK) break;
        if (ev.type == TETHER_EVENT_SENT) {
            CHECK(ev.id == id && acked == 0);
            ++sent;
        } else if (ev.type == TETHER_EVENT_ACKED) {
            CHECK(ev.id == id && sent == 1);
            ++acked;
        }
        tether_event_free(&ev);
    }
    CHECK(sent == 1 && acked == 1);

    /* A healthy connection answers the probe: same connection, still ready. */
    CHECK_RC(c, tether_client_network_changed(c), TETHER_OK);
    CHECK_RC(c, tether_client_send(c, "2", 1, NULL, &id), TETHER_OK);
    CHECK_RC(c, h_poll_for(c, TETHER_EVENT_ACKED, &ev, 10000, NULL), TETHER_OK);
    CHECK(ev.id == id);
    tether_event_free(&ev);
    CHECK_RC(c, tether_client_stats(c, &st), TETHER_OK);
    CHECK(st.connects == 1 && st.reconnects == 0 && st.suspends_detected == 0);

    /* A caller with the first tether_stats layout gets its counters and no more. */
    {
        tether_stats old;
        memset(&old, 0xab, sizeof old);
        old.struct_size = TETHER_STATS_SIZE_V1;
        CHECK_RC(c, tether_client_stats(c, &old), TETHER_OK);
        CHECK(old.struct_size == TETHER_STATS_SIZE_V1 && old.connects == 1);
        CHECK(old.suspends_detected == 0xababababababababull); /* untouched */
        old.struct_size = TETHER_STATS_SIZE_V1 - 8;
        CHECK_RC(c, tether_client_stats(c, &old), TETHER_E_INVALID_ARGUMENT);
    }

    /* In backoff, network_changed connects at once, the attempt count unchanged. */
    h_server_stop(&server);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_BACKOFF), 10000, &state), TETHER_OK);
    REQUIRE(h_server_start(&server, g_server_path, server.port, args) == 0);
    CHECK_RC(c, tether_client_network_changed(c), TETHER_OK);
    CHECK_RC(c, tether_client_wait_state(c, TETHER_STATE_BIT(TETHER_STATE_READY), 10000, &state), TETHER_OK);

    CHECK_RC(c, tether_client_destroy(c), TETHER_OK);
    h_server_stop(&server);
}

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

static const test_case kCases[] = {
    {"api", test_api},       {"args", test_args},   {"idle", test_idle},
    {"echo", test_echo},     {"callbacks", test_callbacks}, {"destroy_waits", test_destroy_waits},
    {"auth", test_auth},     {"rooms", test_rooms}, {"refused", test_refused},
    {"token", test_token},   {"persist", test_persist}, {"lifecycle", test_lifecycle},
};

int main(int argc, char **argv) {
    size_t i;
    int ran = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: %s <chat-server> <case|all>\n", argv[0]);
        return 2;
    }
    g_server_path = argv[1];
    for (i = 0; i < sizeof kCases / sizeof kCases[0]; ++i) {
        if (strcmp(argv[2], "all") == 0 || strcmp(argv[2], kCases[i].name) == 0) {
            const int before = h_failures;
            kCases[i].fn();
            printf("%s: %s\n", kCases[i].name, h_failures == before ? "ok" : "FAILED");
            ++ran;
        }
    }
    if (ran == 0) {
        fprintf(stderr, "unknown case %s\n", argv[2]);
        return 2;
    }
    printf("%d checks, %d failures\n", h_checks, h_failures);
    return h_failures == 0 ? 0 : 1;
}
