// The C# binding against a real tether.v1 server over 127.0.0.1 (NUnit 2.6,
// run by nunit-console under mono). $TETHER_TEST_SERVER (e.g.
// tether-gin-server) or else $CHAT_SERVER names the server binary; a test that
// needs an option the server does not list in --help is ignored. Tests in the
// NoServer category start no server (the copy of the suite that runs against
// another server excludes them). The library is found through
// LD_LIBRARY_PATH. Every wait is bounded.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tether;

namespace Tether.Tests
{
    sealed class ChatServer : IDisposable
    {
        readonly string[] _args;
        Process _proc;
        public int Port;

        public ChatServer(params string[] args)
        {
            _args = args;
            foreach (var flag in args.Where(a => a.StartsWith("--")))
                if (!HasOption(flag)) Assert.Ignore(System.IO.Path.GetFileName(Path()) + " has no " + flag + " option");
            Start();
        }

        static string Path()
        {
            string path = Environment.GetEnvironmentVariable("TETHER_TEST_SERVER");
            if (string.IsNullOrEmpty(path)) path = Environment.GetEnvironmentVariable("CHAT_SERVER");
            if (string.IsNullOrEmpty(path)) Assert.Ignore("neither TETHER_TEST_SERVER nor CHAT_SERVER is set");
            return path;
        }

        static string _help;

        // Whether `server --help` lists the flag (chat-server's usage, or Go's "-name").
        static bool HasOption(string flag)
        {
            if (_help == null)
            {
                var psi = new ProcessStartInfo(Path(), "--help")
                {
                    UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
                };
                using (var p = Process.Start(psi))
                {
                    var err = p.StandardError.ReadToEndAsync();
                    string output = p.StandardOutput.ReadToEnd();
                    if (!p.WaitForExit(10000)) p.Kill();
                    _help = output + err.Result;
                }
            }
            var name = Regex.Escape(flag.TrimStart('-'));
            return Regex.IsMatch(_help, @"(^|[\s-])-" + name + @"(?![\w-])", RegexOptions.Multiline);
        }

        public string Url { get { return "ws://127.0.0.1:" + Port + "/ws"; } }

        public void Start()
        {
            string path = Path();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (true) // a restart reuses the port; retry while the old socket lets go
            {
                var psi = new ProcessStartInfo(path, "--port " + Port + " " + string.Join(" ", _args))
                {
                    UseShellExecute = false, RedirectStandardOutput = true,
                };
                _proc = Process.Start(psi);
                string line = _proc.StandardOutput.ReadLine() ?? "";
                if (line.StartsWith("listening on "))
                {
                    Port = int.Parse(line.Substring(line.LastIndexOf(':') + 1));
                    return;
                }
                _proc.WaitForExit(5000);
                if (Port == 0 || DateTime.UtcNow > deadline) Assert.Fail(path + " did not start: " + line);
                Thread.Sleep(50);
            }
        }

        public void Stop()
        {
            if (_proc == null) return;
            if (!_proc.HasExited) kill(_proc.Id, 15); // SIGTERM: close 1001, exit
            if (!_proc.WaitForExit(10000)) _proc.Kill();
            _proc.Dispose();
            _proc = null;
        }

        public void Dispose() { Stop(); }

        [DllImport("libc", SetLastError = true)]
        static extern int kill(int pid, int sig);
    }

    // Collects events from a client's handlers for the assertions.
    sealed class Recorder
    {
        public readonly BlockingCollection<EventArgs> Events = new BlockingCollection<EventArgs>();
        public readonly ConcurrentBag<string> Threads = new ConcurrentBag<string>();

        public Recorder(TetherClient c)
        {
            c.StateChanged += (s, e) => Add(e);
            c.MessageReceived += (s, e) => Add(e);
            c.Acked += (s, e) => Add(e);
            c.Failed += (s, e) => Add(e);
            c.Resumed += (s, e) => Add(e);
            c.SessionLost += (s, e) => Add(e);
        }

        void Add(EventArgs e)
        {
            Threads.Add(Thread.CurrentThread.Name ?? "");
            Events.Add(e);
        }

        // Takes events until `want` holds for everything taken so far.
        public List<EventArgs> Until(Func<List<EventArgs>, bool> want, int timeoutMs = 10000)
        {
            var got = new List<EventArgs>();
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!want(got))
            {
                int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                EventArgs e;
                if (left <= 0 || !Events.TryTake(out e, left)) Assert.Fail("timed out; got " + got.Count + " events");
                else got.Add(e);
            }
            return got;
        }
    }

    [TestFixture]
    public class TetherClientTests
    {
        static ClientOptions Fast(string url, string token = null)
        {
            return new ClientOptions
            {
                Url = url, Token = token, BackoffBase = TimeSpan.FromMilliseconds(20), BackoffMax = TimeSpan.FromMilliseconds(200),
            };
        }

        static T Wait<T>(Task<T> t, int ms = 10000)
        {
            Assert.IsTrue(t.Wait(ms), "task timed out");
            return t.Result;
        }

        static TetherException Faulted(Task t, int ms = 10000)
        {
            try
            {
                Assert.IsTrue(t.Wait(ms), "task timed out");
            }
            catch (AggregateException e)
            {
                var inner = e.InnerException as TetherException;
                Assert.IsNotNull(inner, "not a TetherException: " + e.InnerException);
                return inner;
            }
            Assert.Fail("the task did not fault");
            return null;
        }

        static int Count<T>(List<EventArgs> evs) { return evs.OfType<T>().Count(); }

        [Test, Category("NoServer")]
        public void VersionAndStructLayout()
        {
            Assert.AreEqual(200, TetherClient.VersionNumber);
            Assert.AreEqual("0.2.0", TetherClient.Version);
            Assert.AreEqual(328, Marshal.SizeOf(typeof(NativeOptions)));
            Assert.AreEqual(120, Marshal.SizeOf(typeof(NativeEvent)));
            Assert.AreEqual(200, Marshal.SizeOf(typeof(NativeStats)));
            Assert.AreEqual(112, (int)Marshal.OffsetOf(typeof(NativeEvent), "internal_"));
            Assert.AreEqual(280, (int)Marshal.OffsetOf(typeof(NativeOptions), "user_data"));
        }

        [Test, Category("NoServer")]
        public void ErrorNamesComeFromTheLibrary()
        {
            foreach (ErrorCode code in Enum.GetValues(typeof(ErrorCode)))
            {
                if (code == ErrorCode.Ok) continue;
                Assert.AreNotEqual("unknown", TetherException.NameOf(code), code.ToString());
            }
            Assert.AreEqual("unauthorized", TetherException.NameOf(ErrorCode.Unauthorized));
            Assert.IsTrue(new TetherException(ErrorCode.OutboxFull, "x").IsLocal);
            Assert.IsFalse(new TetherException(ErrorCode.Unauthorized, "x").IsLocal);
        }

        [Test, Category("NoServer")]
        public void BadArgumentsThrow()
        {
            var e = Assert.Throws<TetherException>(() => new TetherClient("http://127.0.0.1:9/ws"));
            Assert.AreEqual(ErrorCode.InvalidArgument, e.Code);
            StringAssert.Contains("ws://", e.Message);
            e = Assert.Throws<TetherException>(() => new TetherClient(new ClientOptions { Url = "ws://127.0.0.1:9/ws", BackoffBase = TimeSpan.FromSeconds(-1) }));
            Assert.AreEqual(ErrorCode.InvalidArgument, e.Code);
            e = Assert.Throws<TetherException>(() => new TetherClient(new ClientOptions { Url = "ws://127.0.0.1:9/ws", OnSessionLost = (SessionLostPolicy)7 }));
            Assert.AreEqual(ErrorCode.InvalidArgument, e.Code);
            e = Assert.Throws<TetherException>(() => new TetherClient(new ClientOptions { Url = "ws://127.0.0.1:9/ws", ProbeTimeout = TimeSpan.FromSeconds(-1) }));
            StringAssert.Contains("ProbeTimeout", e.Message);
            e = Assert.Throws<TetherException>(() => new TetherClient(new ClientOptions { Url = "ws://127.0.0.1:9/ws", CommitInterval = TimeSpan.FromSeconds(-1) }));
            StringAssert.Contains("CommitInterval", e.Message);
            using (new TetherClient(new ClientOptions { Url = "ws://127.0.0.1:9/ws", CommitInterval = TimeSpan.Zero, ProbeTimeout = TimeSpan.FromMilliseconds(500) })) { }
            e = Assert.Throws<TetherException>(() => new TetherClient("ws://127.0.0.1:9/ws", "bad\ud800"));
            Assert.AreEqual(ErrorCode.InvalidUtf8, e.Code);

            using (var c = new TetherClient(new ClientOptions { Url = "ws://127.0.0.1:9/ws", OutboxMaxMessages = 1 }))
            {
                Assert.AreEqual(ErrorCode.InvalidJson, Assert.Throws<TetherException>(() => c.Send("{nope")).Code);
                Assert.AreEqual(ErrorCode.InvalidJson, Assert.Throws<TetherException>(() => c.Send("")).Code);
                Assert.AreEqual(ErrorCode.InvalidUtf8, Assert.Throws<TetherException>(() => c.SendUtf8(new byte[] { 0x22, 0xff, 0x22 })).Code);
                Assert.AreEqual(ErrorCode.InvalidUtf8, Assert.Throws<TetherException>(() => c.Send("\"\udc00\"")).Code);
                Assert.Greater(c.Send("[1,\"two\"]"), 0UL);
                Assert.AreEqual(ErrorCode.OutboxFull, Assert.Throws<TetherException>(() => c.Send("3")).Code);
                StringAssert.Contains("outbox", c.LastError);
                Assert.AreEqual(ErrorCode.InvalidState, Assert.Throws<TetherException>(() => c.ReconnectNow()).Code);
                Assert.AreEqual(State.Idle, c.State);
                Assert.AreEqual("", c.SessionId);
            }
        }

        [Test]
        public void SendAndReceive()
        {
            using (var server = new ChatServer("--echo"))
            using (var c = new TetherClient(Fast(server.Url)))
            {
                var rec = new Recorder(c);
                Assert.IsTrue(c.ConnectAsync().Wait(10000));
                Assert.AreEqual(State.Ready, c.State);
                Assert.IsNotEmpty(c.SessionId);
                var sends = Enumerable.Range(0, 10).Select(i => c.SendAsync("{\"n\":" + i + ",\"t\":\"caf\u00e9\"}", "cs-" + i)).ToList();
                var ids = sends.Select(t => Wait(t)).ToList(); // each completes when acked
                Assert.AreEqual(10, ids.Distinct().Count());
                var evs = rec.Until(l => Count<MessageEventArgs>(l) == 10);
                var msgs = evs.OfType<MessageEventArgs>().ToList();
                for (int i = 0; i < 10; i++)
                {
                    Assert.AreEqual("{\"echo\":{\"n\":" + i + ",\"t\":\"caf\u00e9\"},\"id\":\"cs-" + i + "\"}", msgs[i].Json);
                    Assert.AreEqual("cs-" + i, msgs[i].MessageId);
                    Assert.AreEqual((ulong)i + 1, msgs[i].Seq);
                }
                var stats = c.GetStats();
                Assert.AreEqual(10UL, stats.MessagesAcked);
                Assert.AreEqual(10UL, stats.MessagesReceived);
                Assert.IsTrue(rec.Threads.All(n => n == "tether-poll"));
                Assert.AreEqual(State.Closed, Wait(c.CloseAsync(TimeSpan.FromSeconds(5))));
            }
        }

        [Test]
        public void SentPrecedesAckedAndNetworkChangedKeepsAHealthyConnection()
        {
            using (var server = new ChatServer("--echo"))
            {
                var o = Fast(server.Url);
                o.ReportSent = true;
                using (var c = new TetherClient(o))
                {
                    var order = new BlockingCollection<string>();
                    c.Sent += (s, e) => order.Add("sent " + e.Id);
                    c.Acked += (s, e) => order.Add("acked " + e.Id);
                    Assert.AreEqual(ErrorCode.InvalidState, Assert.Throws<TetherException>(() => c.NetworkChanged()).Code);
                    Assert.IsTrue(c.ConnectAsync().Wait(10000));
                    var id = Wait(c.SendAsync("1"));
                    string first, second;
                    Assert.IsTrue(order.TryTake(out first, 10000));
                    Assert.IsTrue(order.TryTake(out second, 10000));
                    Assert.AreEqual("sent " + id, first);
                    Assert.AreEqual("acked " + id, second);
                    c.NetworkChanged(); // probed; the server answers
                    Wait(c.SendAsync("2"));
                    var stats = c.GetStats();
                    Assert.AreEqual(1UL, stats.Connects);
                    Assert.AreEqual(0UL, stats.SuspendsDetected);
                }
            }
        }

        [Test]
        public void ReconnectAcrossServerRestartLosesNothing()
        {
            using (var server = new ChatServer("--echo"))
            using (var c = new TetherClient(Fast(server.Url)))
            {
                var rec = new Recorder(c);
                Assert.IsTrue(c.ConnectAsync().Wait(10000));
                var first = Enumerable.Range(0, 5).Select(i => c.SendAsync("{\"n\":" + i + "}", "r-" + i)).ToList();
                foreach (var t in first) Wait(t);

                server.Stop(); // close 1001: backoff and retries
                var evs = rec.Until(l => l.OfType<StateChangedEventArgs>().Any(s => s.State == State.Backoff));
                var second = Enumerable.Range(5, 5).Select(i => c.SendAsync("{\"n\":" + i + "}", "r-" + i)).ToList();
                Assert.GreaterOrEqual(c.GetStats().OutboxDepth, 5UL);
                server.Start(); // same port, a fresh server: the old session is gone

                foreach (var t in second) Wait(t, 20000); // acked by the new server
                evs.AddRange(rec.Until(l => l.OfType<MessageEventArgs>().Select(m => m.MessageId).Distinct().Count() >= 5, 20000));
                var echoed = new HashSet<string>(evs.OfType<MessageEventArgs>().Select(m => m.MessageId));
                Assert.IsTrue(echoed.SetEquals(Enumerable.Range(0, 10).Select(i => "r-" + i)), string.Join(",", echoed));
                Assert.AreEqual(0, Count<FailedEventArgs>(evs));
                Assert.AreEqual(1, Count<SessionLostEventArgs>(evs));
            }
        }

        [Test]
        public void AuthFailureFaultsConnectAsync()
        {
            using (var server = new ChatServer("--tokens", "good"))
            {
                using (var bad = new TetherClient(Fast(server.Url, "bad")))
                {
                    var e = Faulted(bad.ConnectAsync());
                    Assert.AreEqual(ErrorCode.Unauthorized, e.Code);
                    Assert.IsTrue(e.IsAuth);
                    Assert.AreEqual(State.Failed, Wait(bad.WaitTerminalAsync()));
                    Assert.AreEqual(ErrorCode.Unauthorized, Faulted(bad.WaitReadyAsync()).Code);
                }
                using (var good = new TetherClient(Fast(server.Url, "good")))
                {
                    Assert.IsTrue(good.ConnectAsync().Wait(10000));
                }
            }
        }

        [Test]
        public void TokenProviderRefreshesAfterTokenExpired()
        {
            using (var server = new ChatServer("--tokens", "good", "--expired-tokens", "old"))
            {
                var asked = new ConcurrentQueue<bool>();
                var o = Fast(server.Url, "not-used");
                o.TokenProvider = refresh => { asked.Enqueue(refresh); return asked.Count == 1 ? "old" : "good"; };
                using (var c = new TetherClient(o))
                {
                    Assert.IsTrue(c.ConnectAsync().Wait(10000));
                    CollectionAssert.AreEqual(new[] { false, true }, asked.ToArray()); // token_expired, then a refresh
                }

                // No fresh token (the provider throws): the client fails with NoToken.
                var calls = new ConcurrentQueue<bool>();
                var logs = new ConcurrentQueue<string>();
                o = Fast(server.Url);
                o.Log = (level, message) => logs.Enqueue(message);
                o.TokenProvider = refresh =>
                {
                    calls.Enqueue(refresh);
                    if (refresh) throw new InvalidOperationException("identity service down");
                    return "old";
                };
                using (var c = new TetherClient(o))
                {
                    Assert.AreEqual(ErrorCode.NoToken, Faulted(c.ConnectAsync()).Code);
                    CollectionAssert.AreEqual(new[] { false, true }, calls.ToArray());
                    Assert.IsTrue(logs.Any(m => m.Contains("identity service down")), string.Join("\n", logs));
                }
            }
        }

        [Test]
        public void RoomsRelayBetweenClients()
        {
            using (var server = new ChatServer())
            using (var a = new TetherClient(Fast(server.Url)))
            using (var b = new TetherClient(Fast(server.Url)))
            {
                var ra = new Recorder(a);
                var rb = new Recorder(b);
                a.Connect();
                b.Connect();
                Wait(a.SendAsync("{\"room\":\"lobby\"}"));
                Wait(b.SendAsync("{\"room\":\"lobby\"}"));
                a.Send("{\"room\":\"lobby\",\"nick\":\"ann\",\"text\":\"hi\"}", "hello-1");
                foreach (var r in new[] { ra, rb })
                {
                    var m = r.Until(l => Count<MessageEventArgs>(l) == 1).OfType<MessageEventArgs>().Single();
                    Assert.AreEqual("{\"nick\":\"ann\",\"room\":\"lobby\",\"text\":\"hi\"}", m.Json);
                    Assert.AreEqual("hello-1", m.MessageId);
                }
            }
        }

        [Test]
        public void DisposeInsideHandlerIsRefusedAndPendingTasksFault()
        {
            using (var server = new ChatServer("--echo"))
            {
                var c = new TetherClient(Fast(server.Url));
                var refused = new TaskCompletionSource<TetherException>();
                c.MessageReceived += (s, e) =>
                {
                    try { c.Dispose(); refused.TrySetResult(null); }
                    catch (TetherException ex) { refused.TrySetResult(ex); }
                };
                Assert.IsTrue(c.ConnectAsync().Wait(10000));
                c.Send("1");
                var ex2 = Wait(refused.Task);
                Assert.IsNotNull(ex2);
                Assert.AreEqual(ErrorCode.InCallback, ex2.Code);

                server.Stop(); // nothing will be acked now
                var pending = c.SendAsync("2");
                c.Dispose();
                Assert.AreEqual(ErrorCode.Closed, Faulted(pending).Code);
                Assert.Throws<ObjectDisposedException>(() => c.Send("3"));
                c.Dispose(); // idempotent
            }
        }

        [Test]
        public void LogDelegateStaysAlive()
        {
            using (var server = new ChatServer("--echo"))
            {
                int logs = 0;
                var o = Fast(server.Url);
                o.LogLevel = LogLevel.Debug;
                o.Log = (level, msg) => Interlocked.Increment(ref logs);
                using (var c = new TetherClient(o))
                {
                    o = null;
                    GC.Collect();
                    GC.WaitForPendingFinalizers(); // the native side still holds the delegate's pointer
                    Assert.IsTrue(c.ConnectAsync().Wait(10000));
                    Wait(c.SendAsync("\"ping\""));
                    c.SimulateNetworkDrop();
                    var resumed = new TaskCompletionSource<string>();
                    c.Resumed += (s, e) => resumed.TrySetResult(e.Session);
                    Assert.AreEqual(c.SessionId, Wait(resumed.Task));
                }
                Assert.Greater(Thread.VolatileRead(ref logs), 0);
            }
        }

        [Test]
        public void ConcurrentUseDuringDispose()
        {
            using (var server = new ChatServer("--echo"))
            {
                var c = new TetherClient(Fast(server.Url));
                Assert.IsTrue(c.ConnectAsync().Wait(10000));
                var unexpected = new ConcurrentBag<Exception>();
                long sent = 0;
                var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
                {
                    try
                    {
                        while (true)
                        {
                            try { c.Send("1"); Interlocked.Increment(ref sent); }
                            catch (TetherException e) when (e.Code == ErrorCode.OutboxFull) { Thread.Yield(); }
                            c.GetStats();
                        }
                    }
                    catch (ObjectDisposedException) { }
                    catch (TetherException e) { if (e.Code != ErrorCode.Closed) unexpected.Add(e); }
                    catch (Exception e) { unexpected.Add(e); }
                })).ToList();
                threads.ForEach(t => t.Start());
                // Dispose while all four are busy: wait until they have sent something, not for a fixed time.
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Interlocked.Read(ref sent) < 1000 && DateTime.UtcNow < deadline) Thread.Yield();
                Assert.GreaterOrEqual(Interlocked.Read(ref sent), 1000, string.Join("\n", unexpected));
                c.Dispose();
                foreach (var t in threads) Assert.IsTrue(t.Join(10000));
                Assert.IsEmpty(unexpected, string.Join("\n", unexpected));
            }
        }
    }
}
