using System;

namespace Tether
{
    public enum State { Idle = 0, Connecting = 1, Authenticating = 2, Ready = 3, Backoff = 4, Closing = 5, Closed = 6, Failed = 7 }

    public enum SessionLostPolicy { Resend = 0, Fail = 1 }

    // What a commit of the persistence store survives (docs/persistence.md).
    public enum Durability { Normal = 0, Off = 1, Full = 2 }

    public enum LogLevel { Trace = 1, Debug = 2, Info = 3, Warn = 4, Error = 5 }

    public sealed class StateChangedEventArgs : EventArgs
    {
        public State Previous { get; internal set; }
        public State State { get; internal set; }
        public TetherException Reason { get; internal set; } // null: normal progress
        public string Detail { get; internal set; }
        public TimeSpan RetryIn { get; internal set; }
        public ulong Attempt { get; internal set; }
        public bool IsTerminal { get { return State == State.Closed || State == State.Failed; } }
    }

    public sealed class MessageEventArgs : EventArgs
    {
        public ulong Seq { get; internal set; }
        public string Json { get; internal set; }      // the JSON value as text
        public string MessageId { get; internal set; } // the originating id, or null
    }

    public sealed class AckedEventArgs : EventArgs
    {
        public ulong Id { get; internal set; }
    }

    // Persistence: every message with an id <= Through is in the store.
    public sealed class DurableEventArgs : EventArgs
    {
        public ulong Through { get; internal set; }
    }

    // The message's frame went to the socket; raised again on every re-send.
    public sealed class SentEventArgs : EventArgs
    {
        public ulong Id { get; internal set; }
    }

    public sealed class FailedEventArgs : EventArgs
    {
        public ulong Id { get; internal set; }
        public string MessageId { get; internal set; }
        public TetherException Error { get; internal set; }
    }

    public sealed class ResumedEventArgs : EventArgs
    {
        public string Session { get; internal set; }
    }

    public sealed class SessionLostEventArgs : EventArgs
    {
        public string PreviousSession { get; internal set; }
        public string NewSession { get; internal set; }
        public ulong Unacked { get; internal set; }
    }

    public sealed class ErrorEventArgs : EventArgs
    {
        public TetherException Error { get; internal set; }
    }

    public sealed class Stats
    {
        public ulong ConnectAttempts, Connects, Reconnects, Resumes, SessionsLost;
        public ulong MessagesSent, MessagesAcked, MessagesFailed, MessagesReceived;
        public ulong FramesResent, DuplicatesDropped, ProtocolErrors, UnknownFrames;
        public ulong CallerErrors, PingsSent, AcksSent;
        public ulong FramesIn, FramesOut, BytesIn, BytesOut;
        public ulong OutboxDepth, OutboxBytes, OutboxHighWater;
        public ulong SuspendsDetected;
    }

    // Options; zero/null means the SDK default (see docs/configuration.md).
    public sealed class ClientOptions
    {
        public string Url;
        public string Token;
        // Replaces Token: asked before every connection attempt (the argument is
        // true after the server said token_expired); null or an exception means
        // "no token". Runs on the SDK's native thread: return a cached token quickly.
        public Func<bool, string> TokenProvider;
        public string ClientName = "tether-csharp";
        public string ClientVersion;
        public System.Collections.Generic.IDictionary<string, string> Headers;
        public TimeSpan HeartbeatInterval, HeartbeatTimeout;
        public TimeSpan BackoffBase, BackoffMax, BackoffStableAfter;
        public uint MaxAttempts; // 0: unlimited
        public SessionLostPolicy OnSessionLost = SessionLostPolicy.Resend;
        public ulong OutboxMaxMessages, OutboxMaxBytes, OutboxMaxMessageBytes, OutboxMaxInFlight;
        public uint AckEveryMessages;
        public TimeSpan AckMaxDelay, ConnectTimeout, HelloTimeout, CloseDrain;
        public ulong MaxInboundMessageBytes;
        public string TlsCaFile, TlsCaDir, TlsCertFile, TlsKeyFile;
        public string[] TlsPinnedSpkiSha256;
        public bool TlsInsecureSkipVerify;
        public string ProxyUrl, ProxyUsername, ProxyPassword;
        // Runs on the SDK's native thread (opt-in); must not block.
        public Action<LogLevel, string> Log;
        public LogLevel LogLevel = LogLevel.Info;
        // Set: the session and every unacked message live in this SQLite file,
        // and a client created on it later resumes from it (Recovered).
        public string PersistencePath;
        public Durability Persistence = Durability.Normal;
        // Group commit: at most one commit per interval. Null: the default (1 ms);
        // TimeSpan.Zero: one commit per io-loop turn.
        public TimeSpan? CommitInterval;
        // After NetworkChanged() or a detected suspend, a ping must be answered
        // within this, else the connection is replaced. Zero: the default (3 s).
        public TimeSpan ProbeTimeout;
        // Raise TetherClient.Sent for every msg frame handed to the socket.
        public bool ReportSent;
    }
}
