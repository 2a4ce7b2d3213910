using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("Tether")]
[assembly: AssemblyDescription("tether WebSocket client SDK: .NET binding over the C ABI (libtether.so.0)")]
[assembly: AssemblyVersion("0.2.0.0")]
[assembly: InternalsVisibleTo("Tether.Tests")] // the layout tests read the native structs
