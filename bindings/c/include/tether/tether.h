/**
 * @file
 *
 * tether.h: the tether C ABI (libtether.so.0). Plain C99.
 *
 * Conventions (see docs/c-abi.md):
 * - Every function returns an int: TETHER_OK (0) or a negative TETHER_E_*
 *   code, except the few that return a string or a number by design.
 *   Codes are only ever appended; their values never change.
 * - Structs the caller passes in start with `struct_size`; set it with the
 *   *_INIT initializer. Fields are only ever appended.
 * - Strings are NUL-terminated UTF-8. Strings the library hands out belong to
 *   the library (events: until tether_event_free).
 * - Callbacks run on the client's SDK thread, one at a time, with
 *   `void *user_data` last. tether_client_destroy, tether_client_poll_event
 *   and tether_client_wait_state are refused inside a callback
 *   (TETHER_E_IN_CALLBACK).
 *
 * Thread safety: every function may be called from any thread, concurrently,
 * except tether_client_destroy: no other call on that client may be running
 * or follow it.
 */
#ifndef TETHER_H
#define TETHER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the library's exported functions. */
#if defined(__GNUC__)
#define TETHER_API __attribute__((visibility("default")))
#else
#define TETHER_API
#endif

/* ---- version ------------------------------------------------------------ */

/** Identical to tether/version.hpp (the build checks they agree). */
#define TETHER_VERSION_MAJOR 0
#define TETHER_VERSION_MINOR 2 /**< see TETHER_VERSION_MAJOR */
#define TETHER_VERSION_PATCH 0 /**< see TETHER_VERSION_MAJOR */
#define TETHER_VERSION_STRING "0.2.0" /**< "MAJOR.MINOR.PATCH" */
/** MAJOR * 10000 + MINOR * 100 + PATCH */
#define TETHER_VERSION_NUM (TETHER_VERSION_MAJOR * 10000 + TETHER_VERSION_MINOR * 100 + TETHER_VERSION_PATCH)

/** The library's version at run time (compare with TETHER_VERSION_NUM).
 * @return the library's TETHER_VERSION_NUM
 */
TETHER_API int tether_version_number(void);
/** @return the library's TETHER_VERSION_STRING */
TETHER_API const char *tether_version_string(void);

/* ---- error codes ---------------------------------------------------------
 * -1 .. -999 are tether::errc values negated (C++ errc::x == -TETHER_E_X).
 * -1000 and below belong to the C layer itself. Only ever appended. */
/** Every result code: TETHER_OK or a negative TETHER_E_* code. */
typedef enum tether_error {
    TETHER_OK = 0,
    /* local: the caller misused the API; nothing happened */
    TETHER_E_INVALID_ARGUMENT = -1,
    TETHER_E_INVALID_STATE = -2,
    TETHER_E_OUTBOX_FULL = -3,
    TETHER_E_MESSAGE_TOO_LARGE = -4,
    TETHER_E_INVALID_JSON = -5,
    TETHER_E_CLOSED = -6,
    TETHER_E_IN_CALLBACK = -7,
    TETHER_E_INVALID_UTF8 = -8,
    /* remote: network and transport */
    TETHER_E_CONNECT_FAILED = -100,
    TETHER_E_CONNECT_TIMEOUT = -101,
    TETHER_E_DNS_FAILED = -102,
    TETHER_E_TLS_ERROR = -103,
    TETHER_E_TLS_VERIFY_FAILED = -104,
    TETHER_E_HANDSHAKE_FAILED = -105,
    TETHER_E_HTTP_STATUS = -106,
    TETHER_E_NOT_FOUND = -107,
    TETHER_E_TRANSPORT_CLOSED = -108,
    TETHER_E_HEARTBEAT_TIMEOUT = -109,
    TETHER_E_AUTH_TIMEOUT = -110,
    TETHER_E_PROXY_ERROR = -111,
    TETHER_E_MESSAGE_TOO_BIG = -112,
    TETHER_E_BAD_URL = -113,
    /* remote: protocol violations by the peer */
    TETHER_E_BAD_FRAME = -200,
    TETHER_E_PROTOCOL_VERSION = -201,
    TETHER_E_UNEXPECTED_FRAME = -202,
    TETHER_E_SEQ_GAP = -203,
    TETHER_E_ACK_OUT_OF_RANGE = -204,
    TETHER_E_BINARY_FRAME = -205,
    TETHER_E_FRAME_INVALID_JSON = -206,
    TETHER_E_FRAME_NOT_OBJECT = -207,
    TETHER_E_FRAME_MISSING_FIELD = -208,
    TETHER_E_FRAME_WRONG_TYPE = -209,
    TETHER_E_FRAME_SEQ_OUT_OF_RANGE = -210,
    TETHER_E_FRAME_TOO_LARGE = -211,
    TETHER_E_FRAME_TOO_DEEP = -212,
    /* remote: signalled by the server */
    TETHER_E_UNAUTHORIZED = -300,
    TETHER_E_FORBIDDEN = -301,
    TETHER_E_TOKEN_EXPIRED = -302,
    TETHER_E_SERVER_BUSY = -303,
    TETHER_E_RATE_LIMITED = -304,
    TETHER_E_SESSION_TAKEN_OVER = -305,
    TETHER_E_GOING_AWAY = -306,
    TETHER_E_SERVER_ERROR = -307,
    /* remote: session outcomes */
    TETHER_E_SESSION_LOST = -400,
    TETHER_E_MAX_ATTEMPTS_EXCEEDED = -401,
    TETHER_E_NO_TOKEN = -402,
    /* storage: the persistence file (tether_client_options.persistence_path) */
    TETHER_E_STORE_LOCKED = -500,       /**< another client or process has the store open */
    TETHER_E_STORE_CORRUPT = -501,      /**< truncated or damaged; left as it is */
    TETHER_E_STORE_FOREIGN = -502,      /**< not a tether store; left as it is */
    TETHER_E_STORE_NEWER_SCHEMA = -503, /**< written by a newer tether; left untouched */
    TETHER_E_STORE_READ_ONLY = -504,    /**< the file or its file system cannot be written */
    TETHER_E_STORE_DISK_FULL = -505,    /**< no space; the stored state is intact */
    TETHER_E_STORE_IO = -506,           /**< any other I/O failure on the store */
    /* C layer */
    TETHER_E_TIMEOUT = -1000,   /**< a poll or wait ran out of time (not a failure of the client) */
    TETHER_E_NO_MEMORY = -1001,
    TETHER_E_INTERNAL = -1002   /**< an unexpected failure inside the library (a bug) */
} tether_error;

/** A short description; never NULL ("unknown error" for unknown codes).
 * @param code a TETHER_E_* code (or TETHER_OK)
 * @return static text
 */
TETHER_API const char *tether_strerror(int code);
/** The stable short name, e.g. "outbox_full", "ok"; "unknown" if unknown.
 * @param code a TETHER_E_* code (or TETHER_OK)
 * @return static text
 */
TETHER_API const char *tether_error_name(int code);
/** 1 for caller errors (-1 .. -99), 0 otherwise.
 * @param code a TETHER_E_* code
 * @return 1 or 0
 */
TETHER_API int tether_error_is_local(int code);

/* ---- states, events, enums ---------------------------------------------- */

/** The client's states, as tether::State. */
typedef enum tether_state {
    TETHER_STATE_IDLE = 0,
    TETHER_STATE_CONNECTING = 1,
    TETHER_STATE_AUTHENTICATING = 2,
    TETHER_STATE_READY = 3,
    TETHER_STATE_BACKOFF = 4,
    TETHER_STATE_CLOSING = 5,
    TETHER_STATE_CLOSED = 6, /**< terminal */
    TETHER_STATE_FAILED = 7  /**< terminal */
} tether_state;
/** The bit of state `s` in a tether_client_wait_state mask. */
#define TETHER_STATE_BIT(s) (1u << (unsigned)(s))

/** "idle", "ready", ...; "unknown" when out of range.
 * @param state a tether_state value
 * @return static text
 */
TETHER_API const char *tether_state_name(int state);

/** What a tether_event reports, and which of its fields are set. */
typedef enum tether_event_type {
    TETHER_EVENT_NONE = 0,
    TETHER_EVENT_STATE = 1,        /**< state_from -> state_to; error = reason or 0 */
    TETHER_EVENT_MESSAGE = 2,      /**< seq, data/data_len, message_id (NULL if none) */
    TETHER_EVENT_ACKED = 3,        /**< id */
    TETHER_EVENT_FAILED = 4,       /**< id, message_id, error */
    TETHER_EVENT_RESUMED = 5,      /**< session */
    TETHER_EVENT_SESSION_LOST = 6, /**< previous_session, session (the new one), unacked */
    TETHER_EVENT_ERROR = 7,        /**< error, detail: reported, the client carries on */
    TETHER_EVENT_SENT = 8,         /**< id: its frame went to the socket; again on every re-send (report_sent) */
    TETHER_EVENT_DURABLE = 9       /**< persistence: every message with an id <= `id` is in the store */
} tether_event_type;

/** What happens to unacknowledged messages when resume is refused. */
typedef enum tether_session_lost_policy {
    TETHER_SESSION_LOST_RESEND = 0, /**< re-send unacked messages, same ids (default) */
    TETHER_SESSION_LOST_FAIL = 1    /**< fail them with TETHER_E_SESSION_LOST */
} tether_session_lost_policy;

/** What a commit of the persistence store survives (docs/persistence.md). */
typedef enum tether_durability {
    TETHER_DURABILITY_NORMAL = 0, /**< a process crash; a power cut can roll back recent commits (default) */
    TETHER_DURABILITY_OFF = 1,    /**< a process crash; a power cut can lose commits and corrupt the file */
    TETHER_DURABILITY_FULL = 2    /**< a process crash and a power cut (one fsync per commit) */
} tether_durability;

/** Log severities (tether_client_options.log_level, tether_log_fn). */
typedef enum tether_log_level {
    TETHER_LOG_DEFAULT = 0, /**< options only: info */
    TETHER_LOG_TRACE = 1,
    TETHER_LOG_DEBUG = 2,
    TETHER_LOG_INFO = 3,
    TETHER_LOG_WARN = 4,
    TETHER_LOG_ERROR = 5
} tether_log_level;

/** One event. Strings are NUL-terminated and never NULL, except message_id,
 * which is NULL when there is none. From tether_client_poll_event the event
 * owns them until tether_event_free; in a callback they live until it
 * returns. */
typedef struct tether_event {
    size_t struct_size; /**< sizeof, set by TETHER_EVENT_INIT */
    int32_t type;       /**< tether_event_type */
    int32_t error;      /**< STATE: reason (0: normal progress); FAILED, ERROR: code */
    int32_t state_from; /**< STATE */
    int32_t state_to;   /**< STATE */
    uint64_t attempt;   /**< STATE: consecutive failed attempts so far */
    int64_t retry_in_ms; /**< STATE to backoff: delay before the next attempt */
    uint64_t id;        /**< SENT, ACKED, FAILED: the id tether_client_send returned; DURABLE: the highest durable id */
    uint64_t seq;       /**< MESSAGE */
    uint64_t unacked;   /**< SESSION_LOST: messages re-sent or failed */
    const char *data;   /**< MESSAGE: the JSON value as text */
    size_t data_len;    /**< bytes in data */
    const char *message_id; /**< MESSAGE: the originating id; FAILED: the idempotency key */
    const char *detail;
    const char *session;          /**< RESUMED: the session; SESSION_LOST: the new one */
    const char *previous_session; /**< SESSION_LOST: the lost session */
    void *internal_;    /**< owned storage; do not touch */
} tether_event; /**< see struct tether_event */

/** Initializes an event for tether_client_poll_event. */
#ifdef __cplusplus
#define TETHER_EVENT_INIT (tether_event_init_value_())
static inline tether_event tether_event_init_value_(void) { tether_event e = {}; e.struct_size = sizeof e; return e; }
#else
#define TETHER_EVENT_INIT { .struct_size = sizeof(tether_event) }
#endif

/** Releases what a polled event owns and zeroes it (struct_size is kept).
 * NULL and already-freed events are fine.
 * @param event a polled event, or NULL
 */
TETHER_API void tether_event_free(tether_event *event);

/** Callbacks: on the SDK thread, one at a time, no SDK lock held. */
typedef void (*tether_event_fn)(const tether_event *event, void *user_data);
/** A log line: `level` is a tether_log_level; `message` lives until it returns. */
typedef void (*tether_log_fn)(int level, const char *message, void *user_data);

/** The token for the next hello, asked on the SDK thread before every
 * connection attempt; `refresh` is 1 after the server said token_expired.
 * Give it with tether_token_request_set before returning. Not giving one
 * means "no token": the hello goes without, or, after token_expired, the
 * client fails with TETHER_E_NO_TOKEN. The connection waits for the callback,
 * so it must not block for long (hand out a cached token and refresh it
 * elsewhere). `request` is valid only until the callback returns. */
typedef struct tether_token_request tether_token_request;
/** See tether_token_request. */
typedef void (*tether_token_fn)(tether_token_request *request, int refresh, void *user_data);

/** Copies `token_len` bytes of UTF-8 as the token; called again, the last one
 * wins. TETHER_E_INVALID_UTF8 for invalid UTF-8, TETHER_E_INVALID_ARGUMENT for
 * a NULL request or token (details: tether_client_last_error(NULL)).
 * @param request the callback's request
 * @param token the token's bytes
 * @param token_len their number
 * @return TETHER_OK or an error code
 */
TETHER_API int tether_token_request_set(tether_token_request *request, const char *token, size_t token_len);

/* ---- options ------------------------------------------------------------- */

/** The client's options. Zero/NULL means "the SDK default" for every field.
 * Negative durations are refused. Strings are copied by tether_client_create. */
typedef struct tether_client_options {
    size_t struct_size;         /**< sizeof, set by TETHER_CLIENT_OPTIONS_INIT */
    const char *url;            /**< ws://host:port/path or wss://...; required */
    const char *token;          /**< sent in hello; NULL: none */
    const char *client_name;    /**< default "tether-c" */
    const char *client_version; /**< default TETHER_VERSION_STRING */
    const char *const *headers; /**< extra upgrade headers, each "Name: value" */
    size_t header_count;        /**< entries in headers */

    int64_t heartbeat_interval_ms;   /**< 15000; a server's heartbeat_ms overrides it */
    int64_t heartbeat_timeout_ms;    /**< 2 x interval */
    int64_t backoff_base_ms;         /**< 250 */
    int64_t backoff_max_ms;          /**< 30000 */
    int64_t backoff_stable_after_ms; /**< 10000 */
    uint32_t backoff_max_attempts;   /**< unlimited */
    int32_t session_lost_policy;     /**< tether_session_lost_policy */
    uint64_t outbox_max_messages;    /**< 100000 */
    uint64_t outbox_max_bytes;       /**< 64 MiB */
    uint64_t outbox_max_message_bytes; /**< 1 MiB */
    uint64_t outbox_max_in_flight;   /**< 1024 */
    uint32_t ack_every_messages;     /**< 32 */
    int32_t log_level;               /**< tether_log_level; info */
    int64_t ack_max_delay_ms;        /**< 50 */
    int64_t connect_timeout_ms;      /**< 10000 */
    int64_t hello_timeout_ms;        /**< 10000 */
    int64_t close_drain_ms;          /**< 5000 */
    uint64_t max_inbound_message_bytes; /**< 16 MiB */

    const char *tls_ca_file;   /**< PEM bundle; NULL: the system store */
    const char *tls_ca_dir;    /**< hashed CA directory; NULL: the system store */
    const char *tls_cert_file; /**< mTLS */
    const char *tls_key_file;  /**< mTLS private key */
    const char *const *tls_pinned_spki_sha256; /**< base64 SHA-256 pins */
    size_t tls_pinned_spki_count; /**< entries in tls_pinned_spki_sha256 */
    int32_t tls_insecure_skip_verify; /**< 0 or 1; tests only */
    int32_t reserved0_;               /**< must be 0 */
    const char *proxy_url;     /**< http://host:port of a CONNECT proxy */
    const char *proxy_username; /**< basic auth */
    const char *proxy_password; /**< basic auth */

    /** Set: every event goes to this callback. NULL: events are queued for
     * tether_client_poll_event. */
    tether_event_fn event_callback;
    tether_log_fn log_callback; /**< NULL: logs are dropped */
    void *user_data;            /**< passed to every callback */

    /* ---- layout 2 appends (layout 1 ends at user_data and is still accepted) */
    tether_token_fn token_callback; /**< set: overrides `token` */

    /* ---- layout 3 appends (layout 2 ends at token_callback and is still accepted) */
    int32_t report_sent; /**< 1: deliver TETHER_EVENT_SENT */
    int32_t persistence_durability; /**< tether_durability */
    /** Set: the session and every unacked message are kept in this SQLite
     * file (created 0600); a client created on it later resumes from it
     * (tether_client_recovered). NULL: nothing is persisted. */
    const char *persistence_path;

    /* ---- layout 4 appends (layout 3 ends at persistence_path and is still accepted) */
    /** Group commit: the store commits at most this often; frames that depend
     * on a change wait for its commit. 0: the default, 1 ms.
     * TETHER_COMMIT_EVERY_TURN: a commit on every io-loop turn. */
    int64_t persistence_commit_interval_ms;
    /** After tether_client_network_changed or a detected suspend, a ping must
     * be answered (or any frame arrive) within this, else the connection is
     * replaced. 0: the default, 3000. */
    int64_t heartbeat_probe_timeout_ms;
} tether_client_options; /**< see struct tether_client_options */

/** persistence_commit_interval_ms: commit on every io-loop turn (no grouping). */
#define TETHER_COMMIT_EVERY_TURN (-1)

/** struct_size of layout 1, for callers built against the first header. */
#define TETHER_CLIENT_OPTIONS_SIZE_V1 (offsetof(tether_client_options, token_callback))
/** struct_size of layout 2 (token_callback, no report_sent). */
#define TETHER_CLIENT_OPTIONS_SIZE_V2 (offsetof(tether_client_options, report_sent))
/** struct_size of layout 3 (persistence_path, no commit interval). */
#define TETHER_CLIENT_OPTIONS_SIZE_V3 (offsetof(tether_client_options, persistence_commit_interval_ms))

/** Initializes options: struct_size set, everything else zero (defaults). */
#ifdef __cplusplus
#define TETHER_CLIENT_OPTIONS_INIT (tether_client_options_init_value_())
static inline tether_client_options tether_client_options_init_value_(void) {
    tether_client_options o = {};
    o.struct_size = sizeof o;
    return o;
}
#else
#define TETHER_CLIENT_OPTIONS_INIT { .struct_size = sizeof(tether_client_options) }
#endif

/* ---- statistics ------------------------------------------------------------ */

/** The client's counters, as tether::Stats (tether/events.hpp says what each counts). */
typedef struct tether_stats {
    size_t struct_size; /**< sizeof, set by TETHER_STATS_INIT */
    /** @cond COUNTERS */
    uint64_t connect_attempts, connects, reconnects, resumes, sessions_lost;
    uint64_t messages_sent, messages_acked, messages_failed, messages_received;
    uint64_t frames_resent, duplicates_dropped, protocol_errors, unknown_frames;
    uint64_t caller_errors, pings_sent, acks_sent;
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t outbox_depth, outbox_bytes, outbox_high_water;
    uint64_t suspends_detected; /* layout 2 */
    /** @endcond */
} tether_stats; /**< see struct tether_stats */

/** struct_size of the first tether_stats (up to outbox_high_water); still
 * accepted: the counters it has are filled. */
#define TETHER_STATS_SIZE_V1 (offsetof(tether_stats, suspends_detected))

/** Initializes a tether_stats: struct_size set, counters zero. */
#ifdef __cplusplus
#define TETHER_STATS_INIT (tether_stats_init_value_())
static inline tether_stats tether_stats_init_value_(void) { tether_stats s = {}; s.struct_size = sizeof s; return s; }
#else
#define TETHER_STATS_INIT { .struct_size = sizeof(tether_stats) }
#endif

/* ---- the client ----------------------------------------------------------- */
/** A client; opaque. */
typedef struct tether_client tether_client;

/** Validates and copies the options; the client starts idle. On failure *out
 * is NULL and tether_client_last_error(NULL) explains on this thread.
 * @param options the options (struct_size set)
 * @param out receives the client
 * @return TETHER_OK or an error code (TETHER_E_INVALID_ARGUMENT, ...)
 */
TETHER_API int tether_client_create(const tether_client_options *options, tether_client **out);

/** Stops the client (no bye: use close + wait_state first for a graceful end)
 * and frees it. Returns after the last callback has finished; no callback
 * runs afterwards. Undelivered queued events are dropped. NULL is a no-op.
 * @param client the client, or NULL
 * @return TETHER_OK; TETHER_E_IN_CALLBACK from a callback
 */
TETHER_API int tether_client_destroy(tether_client *client);

/** Starts connecting; afterwards the client reconnects by itself. Once only.
 * @param client the client
 * @return TETHER_OK; TETHER_E_INVALID_STATE unless idle
 */
TETHER_API int tether_client_connect(tether_client *client);

/** Queues `json_len` bytes of UTF-8 JSON text (any JSON value). Sent once the
 * session is ready, re-sent until acknowledged. `message_id`: idempotency key
 * (NULL or "": generated). `id_out` (may be NULL) receives the local id
 * that ACKED/FAILED events name.
 * @param client the client
 * @param json the JSON text
 * @param json_len its length in bytes
 * @param message_id an idempotency key, or NULL
 * @param id_out receives the local id, or NULL
 * @return TETHER_OK or why it was refused (TETHER_E_OUTBOX_FULL, TETHER_E_INVALID_JSON, ...)
 */
TETHER_API int tether_client_send(tether_client *client, const char *json, size_t json_len, const char *message_id,
                                  uint64_t *id_out);

/** Graceful: drain the outbox up to `drain_ms` (< 0: the configured default),
 * say bye, close. Queued messages left over fail with TETHER_E_CLOSED.
 * @param client the client
 * @param drain_ms how long to wait for acks; < 0: the configured default
 * @return TETHER_OK, or an error when already closing or terminal
 */
TETHER_API int tether_client_close(tether_client *client, int64_t drain_ms);
/** Immediate: drop the connection, fail queued messages, state closed.
 * @param client the client
 * @return TETHER_OK; TETHER_E_CLOSED when already terminal
 */
TETHER_API int tether_client_abort(tether_client *client);
/** Skip the backoff wait, or replace the current connection.
 * @param client the client
 * @return TETHER_OK; TETHER_E_INVALID_STATE when idle, TETHER_E_CLOSED when closing or terminal
 */
TETHER_API int tether_client_reconnect_now(tether_client *client);
/** The network changed (a hint from the application or the OS): a ready
 * connection is probed (ping, reply within the probe timeout, else replaced);
 * in backoff the client connects now, not counted as a failed attempt.
 * @param client the client
 * @return TETHER_OK; TETHER_E_INVALID_STATE when idle, TETHER_E_CLOSED when closing or terminal
 */
TETHER_API int tether_client_network_changed(tether_client *client);
/** Cut the connection as a network failure would (tests, QA).
 * @param client the client
 * @return TETHER_OK; TETHER_E_INVALID_STATE when there is no connection
 */
TETHER_API int tether_client_simulate_network_drop(tether_client *client);

/** The current state.
 * @param client the client
 * @param state_out receives the tether_state
 * @return TETHER_OK or TETHER_E_INVALID_ARGUMENT
 */
TETHER_API int tether_client_state(tether_client *client, int *state_out);
/** `stats->struct_size` must be set (TETHER_STATS_INIT).
 * @param client the client
 * @param stats receives the counters
 * @return TETHER_OK or TETHER_E_INVALID_ARGUMENT
 */
TETHER_API int tether_client_stats(tether_client *client, tether_stats *stats);
/** Copies the session id ("" before the first welcome) into buf, truncated and
 * always NUL-terminated when buf_size > 0. *len_out (may be NULL) receives the
 * full length; buf may be NULL when buf_size is 0.
 * @param client the client
 * @param buf receives the id, or NULL
 * @param buf_size its size
 * @param len_out receives the full length, or NULL
 * @return TETHER_OK or TETHER_E_INVALID_ARGUMENT
 */
TETHER_API int tether_client_session_id(tether_client *client, char *buf, size_t buf_size, size_t *len_out);
/** What the persistence store held when the client was created (all 0
 * without persistence). Either pointer may be NULL.
 * @param client the client
 * @param messages_out unacknowledged messages loaded; they have ids 1..N
 * @param queued_total_out messages ever queued on the store, acked ones included
 * @return TETHER_OK or TETHER_E_INVALID_ARGUMENT
 */
TETHER_API int tether_client_recovered(tether_client *client, uint64_t *messages_out, uint64_t *queued_total_out);

/** The message of the last failing call on `client` (NULL: the last failing
 * call on this thread that had no client, i.e. create). "" if none. Valid on
 * this thread until the next tether_client_last_error call.
 * @param client the client, or NULL
 * @return the message; never NULL
 */
TETHER_API const char *tether_client_last_error(tether_client *client);

/** Queue mode (no event_callback): takes the oldest event. `event->struct_size`
 * must be set (TETHER_EVENT_INIT); free each event with tether_event_free.
 * timeout_ms: 0 = do not wait, < 0 = wait forever.
 * TETHER_OK: an event; TETHER_E_TIMEOUT: none yet; TETHER_E_CLOSED: the client
 * reached closed/failed and every event has been taken (no more will come).
 * @param client the client
 * @param event receives the event
 * @param timeout_ms how long to wait
 * @return as above; TETHER_E_INVALID_STATE in callback mode
 */
TETHER_API int tether_client_poll_event(tether_client *client, tether_event *event, int timeout_ms);

/** Waits until the client enters a state in `state_mask` (TETHER_STATE_BIT
 * values), as seen by event dispatch. TETHER_OK: reached (*state_out, may be
 * NULL, holds it). A terminal state outside the mask returns its reason
 * (e.g. TETHER_E_UNAUTHORIZED) or TETHER_E_CLOSED; TETHER_E_TIMEOUT otherwise.
 * @param client the client
 * @param state_mask TETHER_STATE_BIT values, or-ed
 * @param timeout_ms how long to wait; < 0 = forever
 * @param state_out receives the state, or NULL
 * @return as above
 */
TETHER_API int tether_client_wait_state(tether_client *client, unsigned state_mask, int timeout_ms, int *state_out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TETHER_H */
