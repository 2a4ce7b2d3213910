using System;

namespace Tether
{
    // The C ABI's TETHER_E_* codes. Values never change; new ones are appended.
    public enum ErrorCode
    {
        Ok = 0,
        InvalidArgument = -1, InvalidState = -2, OutboxFull = -3, MessageTooLarge = -4, InvalidJson = -5,
        Closed = -6, InCallback = -7, InvalidUtf8 = -8,
        ConnectFailed = -100, ConnectTimeout = -101, DnsFailed = -102, TlsError = -103, TlsVerifyFailed = -104,
        HandshakeFailed = -105, HttpStatus = -106, NotFound = -107, TransportClosed = -108, HeartbeatTimeout = -109,
        AuthTimeout = -110, ProxyError = -111, MessageTooBig = -112, BadUrl = -113,
        BadFrame = -200, ProtocolVersion = -201, UnexpectedFrame = -202, SeqGap = -203, AckOutOfRange = -204,
        BinaryFrame = -205, FrameInvalidJson = -206, FrameNotObject = -207, FrameMissingField = -208,
        FrameWrongType = -209, FrameSeqOutOfRange = -210, FrameTooLarge = -211, FrameTooDeep = -212,
        Unauthorized = -300, Forbidden = -301, TokenExpired = -302, ServerBusy = -303, RateLimited = -304,
        SessionTakenOver = -305, GoingAway = -306, ServerError = -307,
        SessionLost = -400, MaxAttemptsExceeded = -401, NoToken = -402,
        StoreLocked = -500, StoreCorrupt = -501, StoreForeign = -502, StoreNewerSchema = -503,
        StoreReadOnly = -504, StoreDiskFull = -505, StoreIo = -506,
        Timeout = -1000, NoMemory = -1001, Internal = -1002,
    }

    // Every failure of the binding: Code says which; IsLocal says the caller
    // misused the API (nothing happened) rather than the network or server.
    public class TetherException : Exception
    {
        public ErrorCode Code { get; private set; }
        public string Detail { get; private set; }

        public TetherException(ErrorCode code, string detail)
            : base(Describe(code, detail))
        {
            Code = code;
            Detail = detail ?? "";
        }

        public bool IsLocal { get { return (int)Code <= -1 && (int)Code >= -99; } }
        public bool IsStorage { get { return (int)Code <= -500 && (int)Code >= -599; } }
        public bool IsAuth { get { return Code == ErrorCode.Unauthorized || Code == ErrorCode.Forbidden || Code == ErrorCode.TokenExpired; } }

        public static string NameOf(ErrorCode code)
        {
            try { return NativeMethods.Utf8(NativeMethods.tether_error_name((int)code)); }
            catch (DllNotFoundException) { return code.ToString(); }
        }

        static string Describe(ErrorCode code, string detail)
        {
            string name = NameOf(code);
            return string.IsNullOrEmpty(detail) ? name + " (" + (int)code + ")" : name + " (" + (int)code + "): " + detail;
        }
    }
}
