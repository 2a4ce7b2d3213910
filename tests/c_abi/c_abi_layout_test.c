/* The public structs' layout is ABI: these offsets may never change (fields
 * are only appended). Checked at compile time; the program only reports. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tether/tether.h"

#define STATIC_ASSERT(cond, name) typedef char static_assert_##name[(cond) ? 1 : -1]

STATIC_ASSERT(sizeof(int32_t) == 4 && sizeof(int) == 4, int_is_32_bits);
STATIC_ASSERT(sizeof(tether_error) == sizeof(int), error_enum_is_int);
STATIC_ASSERT(offsetof(tether_client_options, struct_size) == 0, options_size_first);
STATIC_ASSERT(offsetof(tether_event, struct_size) == 0, event_size_first);
STATIC_ASSERT(offsetof(tether_stats, struct_size) == 0, stats_size_first);

/* Error codes and enum values are ABI too. */
STATIC_ASSERT(TETHER_OK == 0 && TETHER_E_INVALID_ARGUMENT == -1 && TETHER_E_INVALID_UTF8 == -8, codes_local);
STATIC_ASSERT(TETHER_E_CONNECT_FAILED == -100 && TETHER_E_BAD_URL == -113, codes_network);
STATIC_ASSERT(TETHER_E_BAD_FRAME == -200 && TETHER_E_FRAME_TOO_DEEP == -212, codes_protocol);
STATIC_ASSERT(TETHER_E_UNAUTHORIZED == -300 && TETHER_E_SERVER_ERROR == -307, codes_server);
STATIC_ASSERT(TETHER_E_SESSION_LOST == -400 && TETHER_E_NO_TOKEN == -402, codes_session);
STATIC_ASSERT(TETHER_E_TIMEOUT == -1000 && TETHER_E_NO_MEMORY == -1001 && TETHER_E_INTERNAL == -1002, codes_c);
STATIC_ASSERT(TETHER_STATE_IDLE == 0 && TETHER_STATE_READY == 3 && TETHER_STATE_FAILED == 7, states);
STATIC_ASSERT(TETHER_EVENT_NONE == 0 && TETHER_EVENT_MESSAGE == 2 && TETHER_EVENT_ERROR == 7 && TETHER_EVENT_SENT == 8, event_types);
STATIC_ASSERT(TETHER_LOG_TRACE == 1 && TETHER_LOG_ERROR == 5, log_levels);
STATIC_ASSERT(TETHER_SESSION_LOST_RESEND == 0 && TETHER_SESSION_LOST_FAIL == 1, policies);
STATIC_ASSERT(TETHER_VERSION_NUM == TETHER_VERSION_MAJOR * 10000 + TETHER_VERSION_MINOR * 100 + TETHER_VERSION_PATCH,
              version_num);

#if UINTPTR_MAX == 0xffffffffffffffffu && SIZE_MAX == 0xffffffffffffffffu
/* LP64 (x86_64, aarch64). */
#define OFF(type, field, value) STATIC_ASSERT(offsetof(type, field) == (value), type##_##field)
OFF(tether_client_options, url, 8);
OFF(tether_client_options, token, 16);
OFF(tether_client_options, client_name, 24);
OFF(tether_client_options, client_version, 32);
OFF(tether_client_options, headers, 40);
OFF(tether_client_options, header_count, 48);
OFF(tether_client_options, heartbeat_interval_ms, 56);
OFF(tether_client_options, heartbeat_timeout_ms, 64);
OFF(tether_client_options, backoff_base_ms, 72);
OFF(tether_client_options, backoff_max_ms, 80);
OFF(tether_client_options, backoff_stable_after_ms, 88);
OFF(tether_client_options, backoff_max_attempts, 96);
OFF(tether_client_options, session_lost_policy, 100);
OFF(tether_client_options, outbox_max_messages, 104);
OFF(tether_client_options, outbox_max_bytes, 112);
OFF(tether_client_options, outbox_max_message_bytes, 120);
OFF(tether_client_options, outbox_max_in_flight, 128);
OFF(tether_client_options, ack_every_messages, 136);
OFF(tether_client_options, log_level, 140);
OFF(tether_client_options, ack_max_delay_ms, 144);
OFF(tether_client_options, connect_timeout_ms, 152);
OFF(tether_client_options, hello_timeout_ms, 160);
OFF(tether_client_options, close_drain_ms, 168);
OFF(tether_client_options, max_inbound_message_bytes, 176);
OFF(tether_client_options, tls_ca_file, 184);
OFF(tether_client_options, tls_ca_dir, 192);
OFF(tether_client_options, tls_cert_file, 200);
OFF(tether_client_options, tls_key_file, 208);
OFF(tether_client_options, tls_pinned_spki_sha256, 216);
OFF(tether_client_options, tls_pinned_spki_count, 224);
OFF(tether_client_options, tls_insecure_skip_verify, 232);
OFF(tether_client_options, reserved0_, 236);
OFF(tether_client_options, proxy_url, 240);
OFF(tether_client_options, proxy_username, 248);
OFF(tether_client_options, proxy_password, 256);
OFF(tether_client_options, event_callback, 264);
OFF(tether_client_options, log_callback, 272);
OFF(tether_client_options, user_data, 280);
STATIC_ASSERT(TETHER_CLIENT_OPTIONS_SIZE_V1 == 288, options_layout1_size);
OFF(tether_client_options, token_callback, 288);
STATIC_ASSERT(TETHER_CLIENT_OPTIONS_SIZE_V2 == 296, options_layout2_size);
OFF(tether_client_options, report_sent, 296);
OFF(tether_client_options, persistence_durability, 300);
OFF(tether_client_options, persistence_path, 304);
STATIC_ASSERT(TETHER_CLIENT_OPTIONS_SIZE_V3 == 312, options_layout3_size);
OFF(tether_client_options, persistence_commit_interval_ms, 312);
OFF(tether_client_options, heartbeat_probe_timeout_ms, 320);
STATIC_ASSERT(sizeof(tether_client_options) == 328, options_size);
STATIC_ASSERT(TETHER_COMMIT_EVERY_TURN == -1, commit_every_turn);
STATIC_ASSERT(TETHER_E_STORE_LOCKED == -500 && TETHER_E_STORE_IO == -506, codes_storage);
STATIC_ASSERT(TETHER_EVENT_DURABLE == 9, event_durable);

OFF(tether_event, type, 8);
OFF(tether_event, error, 12);
OFF(tether_event, state_from, 16);
OFF(tether_event, state_to, 20);
OFF(tether_event, attempt, 24);
OFF(tether_event, retry_in_ms, 32);
OFF(tether_event, id, 40);
OFF(tether_event, seq, 48);
OFF(tether_event, unacked, 56);
OFF(tether_event, data, 64);
OFF(tether_event, data_len, 72);
OFF(tether_event, message_id, 80);
OFF(tether_event, detail, 88);
OFF(tether_event, session, 96);
OFF(tether_event, previous_session, 104);
OFF(tether_event, internal_, 112);
STATIC_ASSERT(sizeof(tether_event) == 120, event_size);

OFF(tether_stats, connect_attempts, 8);
OFF(tether_stats, sessions_lost, 40);
OFF(tether_stats, messages_sent, 48);
OFF(tether_stats, messages_received, 72);
OFF(tether_stats, frames_resent, 80);
OFF(tether_stats, unknown_frames, 104);
OFF(tether_stats, caller_errors, 112);
OFF(tether_stats, acks_sent, 128);
OFF(tether_stats, frames_in, 136);
OFF(tether_stats, bytes_out, 160);
OFF(tether_stats, outbox_depth, 168);
OFF(tether_stats, outbox_high_water, 184);
STATIC_ASSERT(TETHER_STATS_SIZE_V1 == 192, stats_layout1_size);
OFF(tether_stats, suspends_detected, 192);
STATIC_ASSERT(sizeof(tether_stats) == 200, stats_size);
#define LAYOUT "LP64"
#else
#define LAYOUT "generic (offsets asserted on LP64 only)"
#endif

int main(void) {
    /* The initializers set struct_size and zero the rest. */
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_event e = TETHER_EVENT_INIT;
    tether_stats s = TETHER_STATS_INIT;
    int ok = o.struct_size == sizeof o && o.url == NULL && o.user_data == NULL && o.token_callback == NULL && e.struct_size == sizeof e &&
             e.internal_ == NULL && s.struct_size == sizeof s && s.outbox_high_water == 0;
    printf("layout %s: options %zu, event %zu, stats %zu bytes\n", LAYOUT, sizeof o, sizeof e, sizeof s);
    return ok ? 0 : 1;
}
