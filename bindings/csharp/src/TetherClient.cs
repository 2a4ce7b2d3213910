// Tether.TetherClient: the C ABI's client for .NET (Mono and .NET).
//
// Model: the native client queues its events; one background thread
// ("tether-poll") takes them with tether_client_poll_event, raises the .NET
// events below and completes the Tasks (ConnectAsync, SendAsync, CloseAsync).
// No native thread ever enters managed code, except the optional Log
// delegate, which the handle keeps referenced for its whole lifetime.
//
// Thread safety: every member may be called from any thread. Events are
// raised on the poll thread, one at a time, in order; Task continuations run
// asynchronously (never inline on the poll thread). Dispose() from inside an
// event handler is refused (TetherException, ErrorCode.InCallback).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Tether
{
    public sealed class TetherClient : IDisposable
    {
        const int PollSliceMs = 250;

        readonly ClientHandle _handle;
        readonly Thread _poller;
        readonly object _lock = new object();
        readonly Dictionary<ulong, TaskCompletionSource<ulong>> _sends = new Dictionary<ulong, TaskCompletionSource<ulong>>();
        readonly List<TaskCompletionSource<bool>> _readyWaiters = new List<TaskCompletionSource<bool>>();
        readonly List<TaskCompletionSource<State>> _terminalWaiters = new List<TaskCompletionSource<State>>();
        State _state = State.Idle;          // as seen by the poll thread; guarded by _lock
        TetherException _terminalReason;    // guarded by _lock
        bool _ended;                        // the event stream ended; guarded by _lock
        int _disposed;

        public event EventHandler<StateChangedEventArgs> StateChanged;
        public event EventHandler<MessageEventArgs> MessageReceived;
        public event EventHandler<AckedEventArgs> Acked;
        public event EventHandler<SentEventArgs> Sent; // needs ClientOptions.ReportSent
        public event EventHandler<FailedEventArgs> Failed;
        public event EventHandler<ResumedEventArgs> Resumed;
        public event EventHandler<SessionLostEventArgs> SessionLost;
        public event EventHandler<ErrorEventArgs> Error;
        public event EventHandler<DurableEventArgs> Durable;
        // An event handler threw; the client carries on.
        public event EventHandler<UnhandledExceptionEventArgs> HandlerFailed;

        public static int VersionNumber { get { return NativeMethods.tether_version_number(); } }
        public static string Version { get { return NativeMethods.Utf8(NativeMethods.tether_version_string()); } }

        public TetherClient(string url, string token = null) : this(new ClientOptions { Url = url, Token = token }) { }

        public TetherClient(ClientOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            _handle = Create(options);
            _poller = new Thread(PollLoop) { IsBackground = true, Name = "tether-poll" };
            _poller.Start();
        }

        // ---- creation ----------------------------------------------------------------

        static long Ms(TimeSpan t, string what)
        {
            if (t < TimeSpan.Zero) throw new TetherException(ErrorCode.InvalidArgument, what + " must not be negative");
            if (t == TimeSpan.Zero) return 0;
            return Math.Max(1L, (long)Math.Round(t.TotalMilliseconds));
        }

        static ClientHandle Create(ClientOptions o)
        {
            var allocs = new List<IntPtr>();
            Func<string, string, IntPtr> str = (s, what) =>
            {
                byte[] z = NativeMethods.ToUtf8Z(s, what);
                if (z == null) return IntPtr.Zero;
                IntPtr p = Marshal.AllocHGlobal(z.Length);
                Marshal.Copy(z, 0, p, z.Length);
                allocs.Add(p);
                return p;
            };
            Func<IList<string>, string, IntPtr> list = (items, what) =>
            {
                IntPtr arr = Marshal.AllocHGlobal(IntPtr.Size * Math.Max(1, items.Count));
                allocs.Add(arr);
                for (int i = 0; i < items.Count; i++) Marshal.WriteIntPtr(arr, i * IntPtr.Size, str(items[i], what));
                return arr;
            };
            try
            {
                var n = new NativeOptions();
                n.struct_size = (UIntPtr)Marshal.SizeOf(typeof(NativeOptions));
                n.url = str(o.Url, "Url");
                n.token = str(o.Token, "Token");
                n.client_name = str(o.ClientName, "ClientName");
                n.client_version = str(o.ClientVersion, "ClientVersion");
                if (o.Headers != null && o.Headers.Count > 0)
                {
                    var lines = new List<string>();
                    foreach (var kv in o.Headers) lines.Add(kv.Key + ": " + kv.Value);
                    n.headers = list(lines, "header");
                    n.header_count = (UIntPtr)lines.Count;
                }
                n.heartbeat_interval_ms = Ms(o.HeartbeatInterval, "HeartbeatInterval");
                n.heartbeat_timeout_ms = Ms(o.HeartbeatTimeout, "HeartbeatTimeout");
                n.heartbeat_probe_timeout_ms = Ms(o.ProbeTimeout, "ProbeTimeout");
                n.backoff_base_ms = Ms(o.BackoffBase, "BackoffBase");
                n.backoff_max_ms = Ms(o.BackoffMax, "BackoffMax");
                n.backoff_stable_after_ms = Ms(o.BackoffStableAfter, "BackoffStableAfter");
                n.backoff_max_attempts = o.MaxAttempts;
                n.session_lost_policy = (int)o.OnSessionLost;
                n.outbox_max_messages = o.OutboxMaxMessages;
                n.outbox_max_bytes = o.OutboxMaxBytes;
                n.outbox_max_message_bytes = o.OutboxMaxMessageBytes;
                n.outbox_max_in_flight = o.OutboxMaxInFlight;
                n.ack_every_messages = o.AckEveryMessages;
                n.ack_max_delay_ms = Ms(o.AckMaxDelay, "AckMaxDelay");
                n.connect_timeout_ms = Ms(o.ConnectTimeout, "ConnectTimeout");
                n.hello_timeout_ms = Ms(o.HelloTimeout, "HelloTimeout");
                n.close_drain_ms = Ms(o.CloseDrain, "CloseDrain");
                n.max_inbound_message_bytes = o.MaxInboundMessageBytes;
                n.tls_ca_file = str(o.TlsCaFile, "TlsCaFile");
                n.tls_ca_dir = str(o.TlsCaDir, "TlsCaDir");
                n.tls_cert_file = str(o.TlsCertFile, "TlsCertFile");
                n.tls_key_file = str(o.TlsKeyFile, "TlsKeyFile");
                if (o.TlsPinnedSpkiSha256 != null && o.TlsPinnedSpkiSha256.Length > 0)
                {
                    n.tls_pinned_spki_sha256 = list(o.TlsPinnedSpkiSha256, "TlsPinnedSpkiSha256");
                    n.tls_pinned_spki_count = (UIntPtr)o.TlsPinnedSpkiSha256.Length;
                }
                n.tls_insecure_skip_verify = o.TlsInsecureSkipVerify ? 1 : 0;
                n.report_sent = o.ReportSent ? 1 : 0;
                n.proxy_url = str(o.ProxyUrl, "ProxyUrl");
                n.proxy_username = str(o.ProxyUsername, "ProxyUsername");
                n.proxy_password = str(o.ProxyPassword, "ProxyPassword");
                n.log_level = (int)o.LogLevel;
                n.persistence_path = str(o.PersistencePath, "PersistencePath");
                n.persistence_durability = (int)o.Persistence;
                n.persistence_commit_interval_ms = o.CommitInterval == TimeSpan.Zero
                    ? NativeMethods.CommitEveryTurn
                    : (o.CommitInterval.HasValue ? Ms(o.CommitInterval.Value, "CommitInterval") : 0);

                NativeLogFn logFn = null;
                if (o.Log != null)
                {
                    Action<LogLevel, string> sink = o.Log;
                    logFn = (level, message, user) =>
                    {
                        try { sink((LogLevel)level, NativeMethods.Utf8(message)); }
                        catch (Exception) { } // nothing may unwind into native code
                    };
                    n.log_callback = Marshal.GetFunctionPointerForDelegate(logFn);
                }

                NativeTokenFn tokenFn = null;
                if (o.TokenProvider != null)
                {
                    Func<bool, string> provider = o.TokenProvider;
                    Action<LogLevel, string> log = o.Log;
                    tokenFn = (request, refresh, user) =>
                    {
                        try
                        {
                            string token = provider(refresh != 0);
                            if (token == null) return;
                            byte[] z = NativeMethods.ToUtf8Z(token, "token");
                            int set = NativeMethods.tether_token_request_set(request, z, (UIntPtr)(z.Length - 1));
                            if (set != NativeMethods.OK && log != null)
                                log(LogLevel.Error, "token provider: " + NativeMethods.Utf8(NativeMethods.tether_client_last_error_ptr(IntPtr.Zero)));
                        }
                        catch (Exception e) // nothing may unwind into native code; no token this time
                        {
                            try { if (log != null) log(LogLevel.Error, "token provider threw: " + e.Message); }
                            catch (Exception) { }
                        }
                    };
                    n.token_callback = Marshal.GetFunctionPointerForDelegate(tokenFn);
                }

                ClientHandle handle;
                int rc = NativeMethods.tether_client_create(ref n, out handle);
                if (rc != NativeMethods.OK)
                    throw new TetherException((ErrorCode)rc, NativeMethods.Utf8(NativeMethods.tether_client_last_error_ptr(IntPtr.Zero)));
                handle.LogDelegate = logFn;
                handle.TokenDelegate = tokenFn;
                return handle;
            }
            finally
            {
                foreach (IntPtr p in allocs) Marshal.FreeHGlobal(p);
            }
        }

        // ---- calls ---------------------------------------------------------------------

        void Check(int rc)
        {
            if (rc == NativeMethods.OK) return;
            throw new TetherException((ErrorCode)rc, LastError);
        }

        // The message of the last failing call on this client.
        public string LastError { get { return NativeMethods.Utf8(NativeMethods.tether_client_last_error(_handle)) ?? ""; } }

        public void Connect() { Check(NativeMethods.tether_client_connect(_handle)); }

        // Connects; completes when the session is ready, faults with why the
        // client closed or failed first (e.g. ErrorCode.Unauthorized).
        public Task ConnectAsync()
        {
            Task ready = WaitReadyAsync();
            Connect();
            return ready;
        }

        public Task WaitReadyAsync()
        {
            var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (_state == State.Ready) tcs.SetResult(true);
                else if (_ended || IsTerminal(_state)) tcs.SetException(TerminalError());
                else _readyWaiters.Add(tcs);
            }
            return tcs.Task;
        }

        // Queues JSON text (any JSON value); returns the local message id.
        public ulong Send(string json, string messageId = null)
        {
            return SendBytes(NativeMethods.ToUtf8Z(json ?? "", "json"), true, messageId);
        }

        // Queues UTF-8 bytes as they are (validated by the library).
        public ulong SendUtf8(byte[] json, string messageId = null)
        {
            if (json == null) throw new ArgumentNullException("json");
            return SendBytes(json, false, messageId);
        }

        ulong SendBytes(byte[] json, bool nulTerminated, string messageId)
        {
            ulong id;
            int len = nulTerminated ? json.Length - 1 : json.Length;
            Check(NativeMethods.tether_client_send(_handle, json, (UIntPtr)len, NativeMethods.ToUtf8Z(messageId, "messageId"), out id));
            return id;
        }

        // Queues a message; completes with its id when the server acknowledged
        // it, faults when it failed (closed, session lost with policy Fail).
        public Task<ulong> SendAsync(string json, string messageId = null)
        {
            var tcs = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock) // the poll thread cannot see the ack before the Task is registered
            {
                ulong id = Send(json, messageId);
                _sends[id] = tcs;
            }
            return tcs.Task;
        }

        // Graceful close: drains the outbox up to `drain` (null: the configured default).
        public void Close(TimeSpan? drain = null)
        {
            long ms = drain.HasValue ? (long)drain.Value.TotalMilliseconds : -1;
            Check(NativeMethods.tether_client_close(_handle, ms));
        }

        // Closes; completes with the final state (Closed or Failed).
        public Task<State> CloseAsync(TimeSpan? drain = null)
        {
            Task<State> done = WaitTerminalAsync();
            Close(drain);
            return done;
        }

        public Task<State> WaitTerminalAsync()
        {
            var tcs = new TaskCompletionSource<State>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (IsTerminal(_state)) tcs.SetResult(_state);
                else if (_ended) tcs.SetResult(State.Closed);
                else _terminalWaiters.Add(tcs);
            }
            return tcs.Task;
        }

        public void Abort() { Check(NativeMethods.tether_client_abort(_handle)); }
        public void ReconnectNow() { Check(NativeMethods.tether_client_reconnect_now(_handle)); }
        // The network changed: probe the connection now; in backoff, connect now.
        public void NetworkChanged() { Check(NativeMethods.tether_client_network_changed(_handle)); }
        public void SimulateNetworkDrop() { Check(NativeMethods.tether_client_simulate_network_drop(_handle)); }

        public State State
        {
            get
            {
                int s;
                Check(NativeMethods.tether_client_state(_handle, out s));
                return (State)s;
            }
        }

        // What the persistence store held at creation: unacked messages loaded
        // (ids 1..N) and messages ever queued on it. Zeros without persistence.
        public ulong RecoveredMessages { get { ulong m, t; Check(NativeMethods.tether_client_recovered(_handle, out m, out t)); return m; } }
        public ulong RecoveredQueuedTotal { get { ulong m, t; Check(NativeMethods.tether_client_recovered(_handle, out m, out t)); return t; } }

        public string SessionId
        {
            get
            {
                var buf = new byte[128];
                UIntPtr len;
                Check(NativeMethods.tether_client_session_id(_handle, buf, (UIntPtr)buf.Length, out len));
                if ((ulong)len >= (ulong)buf.Length)
                {
                    buf = new byte[(int)len + 1];
                    Check(NativeMethods.tether_client_session_id(_handle, buf, (UIntPtr)buf.Length, out len));
                }
                return Encoding.UTF8.GetString(buf, 0, (int)len);
            }
        }

        public Stats GetStats()
        {
            var s = new NativeStats();
            s.struct_size = (UIntPtr)Marshal.SizeOf(typeof(NativeStats));
            Check(NativeMethods.tether_client_stats(_handle, ref s));
            return new Stats
            {
                ConnectAttempts = s.connect_attempts, Connects = s.connects, Reconnects = s.reconnects,
                Resumes = s.resumes, SessionsLost = s.sessions_lost, MessagesSent = s.messages_sent,
                MessagesAcked = s.messages_acked, MessagesFailed = s.messages_failed,
                MessagesReceived = s.messages_received, FramesResent = s.frames_resent,
                DuplicatesDropped = s.duplicates_dropped, ProtocolErrors = s.protocol_errors,
                UnknownFrames = s.unknown_frames, CallerErrors = s.caller_errors, PingsSent = s.pings_sent,
                AcksSent = s.acks_sent, FramesIn = s.frames_in, FramesOut = s.frames_out, BytesIn = s.bytes_in,
                BytesOut = s.bytes_out, OutboxDepth = s.outbox_depth, OutboxBytes = s.outbox_bytes,
                OutboxHighWater = s.outbox_high_water, SuspendsDetected = s.suspends_detected,
            };
        }

        // Stops the client (abort), waits for the poll thread, destroys the
        // native client. Pending Tasks fault with ErrorCode.Closed.
        public void Dispose()
        {
            if (Thread.CurrentThread == _poller)
                throw new TetherException(ErrorCode.InCallback, "Dispose from inside a TetherClient event handler");
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            try { NativeMethods.tether_client_abort(_handle); }
            catch (ObjectDisposedException) { }
            _poller.Join();
            _handle.Dispose();
            EndStream();
        }

        // ---- the poll thread -------------------------------------------------------------

        static bool IsTerminal(State s) { return s == State.Closed || s == State.Failed; }

        TetherException TerminalError()
        {
            return _terminalReason ?? new TetherException(ErrorCode.Closed, "the client is " + _state.ToString().ToLowerInvariant());
        }

        void PollLoop()
        {
            int size = Marshal.SizeOf(typeof(NativeEvent));
            while (true)
            {
                var ev = new NativeEvent();
                ev.struct_size = (UIntPtr)size;
                int rc;
                try { rc = NativeMethods.tether_client_poll_event(_handle, ref ev, PollSliceMs); }
                catch (ObjectDisposedException) { break; }
                if (rc == NativeMethods.E_TIMEOUT) continue;
                if (rc != NativeMethods.OK) break; // E_CLOSED: every event has been taken
                EventArgs args;
                try { args = Convert(ref ev); }
                finally { NativeMethods.tether_event_free(ref ev); }
                Dispatch(args);
            }
            EndStream();
        }

        static TetherException ErrorOf(int code, string detail)
        {
            return code == 0 ? null : new TetherException((ErrorCode)code, detail);
        }

        static EventArgs Convert(ref NativeEvent ev)
        {
            string detail = NativeMethods.Utf8(ev.detail) ?? "";
            switch (ev.type)
            {
            case 1:
                return new StateChangedEventArgs
                {
                    Previous = (State)ev.state_from, State = (State)ev.state_to, Reason = ErrorOf(ev.error, detail),
                    Detail = detail, RetryIn = TimeSpan.FromMilliseconds(ev.retry_in_ms), Attempt = ev.attempt,
                };
            case 2:
                return new MessageEventArgs
                {
                    Seq = ev.seq, Json = NativeMethods.Utf8(ev.data, (int)(ulong)ev.data_len),
                    MessageId = NativeMethods.Utf8(ev.message_id),
                };
            case 3: return new AckedEventArgs { Id = ev.id };
            case 4:
                return new FailedEventArgs
                {
                    Id = ev.id, MessageId = NativeMethods.Utf8(ev.message_id), Error = ErrorOf(ev.error, detail),
                };
            case 5: return new ResumedEventArgs { Session = NativeMethods.Utf8(ev.session) };
            case 6:
                return new SessionLostEventArgs
                {
                    PreviousSession = NativeMethods.Utf8(ev.previous_session), NewSession = NativeMethods.Utf8(ev.session),
                    Unacked = ev.unacked,
                };
            case 7: return new ErrorEventArgs { Error = ErrorOf(ev.error, detail) };
            case 8: return new SentEventArgs { Id = ev.id };
            case 9: return new DurableEventArgs { Through = ev.id };
            default: return EventArgs.Empty;
            }
        }

        void Raise<T>(EventHandler<T> handler, T args) where T : EventArgs
        {
            if (handler == null) return;
            try { handler(this, args); }
            catch (Exception e)
            {
                var failed = HandlerFailed;
                if (failed != null)
                {
                    try { failed(this, new UnhandledExceptionEventArgs(e, false)); }
                    catch (Exception) { }
                }
                else
                {
                    Console.Error.WriteLine("tether: event handler threw: " + e);
                }
            }
        }

        void Dispatch(EventArgs args)
        {
            var sc = args as StateChangedEventArgs;
            if (sc != null)
            {
                List<TaskCompletionSource<bool>> ready = null;
                List<TaskCompletionSource<State>> terminal = null;
                lock (_lock)
                {
                    _state = sc.State;
                    if (sc.State == State.Ready || IsTerminal(sc.State))
                    {
                        ready = new List<TaskCompletionSource<bool>>(_readyWaiters);
                        _readyWaiters.Clear();
                    }
                    if (IsTerminal(sc.State))
                    {
                        _terminalReason = sc.Reason;
                        terminal = new List<TaskCompletionSource<State>>(_terminalWaiters);
                        _terminalWaiters.Clear();
                    }
                }
                if (ready != null)
                    foreach (var t in ready)
                        if (sc.State == State.Ready) t.TrySetResult(true);
                        else t.TrySetException(sc.Reason ?? new TetherException(ErrorCode.Closed, "the client closed"));
                if (terminal != null)
                    foreach (var t in terminal) t.TrySetResult(sc.State);
                Raise(StateChanged, sc);
                return;
            }
            var acked = args as AckedEventArgs;
            if (acked != null)
            {
                TaskCompletionSource<ulong> tcs;
                lock (_lock)
                {
                    if (_sends.TryGetValue(acked.Id, out tcs)) _sends.Remove(acked.Id);
                }
                if (tcs != null) tcs.TrySetResult(acked.Id);
                Raise(Acked, acked);
                return;
            }
            var failed = args as FailedEventArgs;
            if (failed != null)
            {
                TaskCompletionSource<ulong> tcs;
                lock (_lock)
                {
                    if (_sends.TryGetValue(failed.Id, out tcs)) _sends.Remove(failed.Id);
                }
                if (tcs != null) tcs.TrySetException(failed.Error ?? new TetherException(ErrorCode.Closed, ""));
                Raise(Failed, failed);
                return;
            }
            if (args is MessageEventArgs) Raise(MessageReceived, (MessageEventArgs)args);
            else if (args is ResumedEventArgs) Raise(Resumed, (ResumedEventArgs)args);
            else if (args is SessionLostEventArgs) Raise(SessionLost, (SessionLostEventArgs)args);
            else if (args is ErrorEventArgs) Raise(Error, (ErrorEventArgs)args);
            else if (args is DurableEventArgs) Raise(Durable, (DurableEventArgs)args);
            else if (args is SentEventArgs) Raise(Sent, (SentEventArgs)args);
        }

        // No more events will come: fault whatever still waits.
        void EndStream()
        {
            List<TaskCompletionSource<ulong>> sends;
            List<TaskCompletionSource<bool>> ready;
            List<TaskCompletionSource<State>> terminal;
            State final;
            lock (_lock)
            {
                _ended = true;
                sends = new List<TaskCompletionSource<ulong>>(_sends.Values);
                _sends.Clear();
                ready = new List<TaskCompletionSource<bool>>(_readyWaiters);
                _readyWaiters.Clear();
                terminal = new List<TaskCompletionSource<State>>(_terminalWaiters);
                _terminalWaiters.Clear();
                final = IsTerminal(_state) ? _state : State.Closed;
            }
            var closed = new TetherException(ErrorCode.Closed, "the client was closed");
            foreach (var t in sends) t.TrySetException(closed);
            foreach (var t in ready) t.TrySetException(closed);
            foreach (var t in terminal) t.TrySetResult(final);
        }
    }
}
