// P/Invoke declarations for libtether.so.0 (bindings/c/include/tether/tether.h).
// The structs mirror the C layout; tether_client_create refuses a struct_size
// it does not know, so a mismatch fails loudly.
using System;
using System.Runtime.InteropServices;

namespace Tether
{
    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeOptions
    {
        public UIntPtr struct_size;
        public IntPtr url, token, client_name, client_version;
        public IntPtr headers;
        public UIntPtr header_count;
        public long heartbeat_interval_ms, heartbeat_timeout_ms;
        public long backoff_base_ms, backoff_max_ms, backoff_stable_after_ms;
        public uint backoff_max_attempts;
        public int session_lost_policy;
        public ulong outbox_max_messages, outbox_max_bytes, outbox_max_message_bytes, outbox_max_in_flight;
        public uint ack_every_messages;
        public int log_level;
        public long ack_max_delay_ms, connect_timeout_ms, hello_timeout_ms, close_drain_ms;
        public ulong max_inbound_message_bytes;
        public IntPtr tls_ca_file, tls_ca_dir, tls_cert_file, tls_key_file;
        public IntPtr tls_pinned_spki_sha256;
        public UIntPtr tls_pinned_spki_count;
        public int tls_insecure_skip_verify;
        public int reserved0_;
        public IntPtr proxy_url, proxy_username, proxy_password;
        public IntPtr event_callback, log_callback, user_data;
        public IntPtr token_callback; // layout 2
        public int report_sent; // layout 3
        public int persistence_durability;
        public IntPtr persistence_path;
        public long persistence_commit_interval_ms; // layout 4
        public long heartbeat_probe_timeout_ms;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeEvent
    {
        public UIntPtr struct_size;
        public int type, error, state_from, state_to;
        public ulong attempt;
        public long retry_in_ms;
        public ulong id, seq, unacked;
        public IntPtr data;
        public UIntPtr data_len;
        public IntPtr message_id, detail, session, previous_session;
        public IntPtr internal_;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeStats
    {
        public UIntPtr struct_size;
        public ulong connect_attempts, connects, reconnects, resumes, sessions_lost;
        public ulong messages_sent, messages_acked, messages_failed, messages_received;
        public ulong frames_resent, duplicates_dropped, protocol_errors, unknown_frames;
        public ulong caller_errors, pings_sent, acks_sent;
        public ulong frames_in, frames_out, bytes_in, bytes_out;
        public ulong outbox_depth, outbox_bytes, outbox_high_water;
        public ulong suspends_detected;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void NativeLogFn(int level, IntPtr message, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void NativeTokenFn(IntPtr request, int refresh, IntPtr userData);

    internal static class NativeMethods
    {
        // The SONAME, so no -dev symlink is needed at run time; found through
        // LD_LIBRARY_PATH, the system library path, or a Mono dllmap.
        internal const string Lib = "libtether.so.0";
        internal const long CommitEveryTurn = -1; // TETHER_COMMIT_EVERY_TURN

        internal const int OK = 0;
        internal const int E_TIMEOUT = -1000;
        internal const int E_CLOSED = -6;

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_version_number();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr tether_version_string();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr tether_strerror(int code);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr tether_error_name(int code);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void tether_event_free(ref NativeEvent ev);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_token_request_set(IntPtr request, byte[] token, UIntPtr tokenLen);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_create(ref NativeOptions options, out ClientHandle client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_destroy(IntPtr client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_connect(ClientHandle client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_send(ClientHandle client, byte[] json, UIntPtr jsonLen, byte[] messageId, out ulong id);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_close(ClientHandle client, long drainMs);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_abort(ClientHandle client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_reconnect_now(ClientHandle client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_network_changed(ClientHandle client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_simulate_network_drop(ClientHandle client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_state(ClientHandle client, out int state);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_stats(ClientHandle client, ref NativeStats stats);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_session_id(ClientHandle client, byte[] buf, UIntPtr bufSize, out UIntPtr len);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_recovered(ClientHandle client, out ulong messages, out ulong queuedTotal);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr tether_client_last_error(ClientHandle client);
        [DllImport(Lib, EntryPoint = "tether_client_last_error", CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr tether_client_last_error_ptr(IntPtr client);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_poll_event(ClientHandle client, ref NativeEvent ev, int timeoutMs);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int tether_client_wait_state(ClientHandle client, uint mask, int timeoutMs, out int state);

        // UTF-8 helpers (Mono's string marshaling is not UTF-8 everywhere).
        internal static string Utf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return Utf8(p, n);
        }

        internal static string Utf8(IntPtr p, int n)
        {
            if (p == IntPtr.Zero) return null;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }

        static readonly System.Text.UTF8Encoding Strict = new System.Text.UTF8Encoding(false, true);

        // NUL-terminated UTF-8; a lone surrogate is refused like the C layer refuses bad UTF-8.
        internal static byte[] ToUtf8Z(string s, string what)
        {
            if (s == null) return null;
            byte[] body;
            try { body = Strict.GetBytes(s); }
            catch (ArgumentException) { throw new TetherException(ErrorCode.InvalidUtf8, what + " is not valid UTF-16/UTF-8"); }
            var z = new byte[body.Length + 1];
            Buffer.BlockCopy(body, 0, z, 0, body.Length);
            return z;
        }
    }
}
