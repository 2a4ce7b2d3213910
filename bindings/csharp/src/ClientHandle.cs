using System;
using System.Runtime.InteropServices;

namespace Tether
{
    // The native client. P/Invoke add-refs it around every call, so Dispose
    // during a call waits for it; releasing calls tether_client_destroy, which
    // returns after the last native callback. The delegates the library may
    // call are kept here, so they live exactly as long as the handle.
    public sealed class ClientHandle : SafeHandle
    {
        internal NativeLogFn LogDelegate;     // referenced for the handle's lifetime
        internal NativeTokenFn TokenDelegate; // likewise

        public ClientHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            bool ok = NativeMethods.tether_client_destroy(handle) == NativeMethods.OK;
            LogDelegate = null;
            TokenDelegate = null;
            return ok;
        }
    }
}
