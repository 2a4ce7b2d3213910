// Send while offline, kill the process, restart: nothing is lost (C#).
//
//   mono durable.exe queue  --store FILE --url URL [--count N]
//       queues N messages without connecting, waits until the store holds
//       them (the Durable event), then kills its own process (SIGKILL);
//   mono durable.exe resume --store FILE --url URL
//       opens the same store, connects, and waits until every recovered
//       message is acknowledged; exit 0 when all were;
//   mono durable.exe demo   --store FILE --url URL
//       deletes FILE, runs "queue" as a child process, then "resume" here.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using Tether;

static class DurableOutbox
{
    static int Queue(string store, string url, int count)
    {
        var durable = new ManualResetEventSlim();
        var mu = new object();
        ulong last = 0, through = 0;
        var client = new TetherClient(new ClientOptions { Url = url, PersistencePath = store });
        client.Durable += (s, e) => { lock (mu) { through = e.Through; if (last > 0 && through >= last) durable.Set(); } };
        ulong id = 0;
        for (int i = 1; i <= count; ++i) id = client.Send("{\"n\":" + i + "}", "offline-" + i);
        lock (mu) { last = id; if (through >= last) durable.Set(); }
        if (!durable.Wait(TimeSpan.FromSeconds(10)))
        {
            Console.Error.WriteLine("the store did not report the messages durable in time");
            return 1;
        }
        Console.WriteLine("queued " + count + " messages; killing myself");
        Process.GetCurrentProcess().Kill(); // SIGKILL: no destructor, no close
        return 1;
    }

    static int Resume(string store, string url)
    {
        var acked = new HashSet<ulong>();
        var all = new ManualResetEventSlim();
        using (var client = new TetherClient(new ClientOptions {
                   Url = url, PersistencePath = store,
                   BackoffBase = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(500) }))
        {
            ulong recovered = client.RecoveredMessages;
            client.Acked += (s, e) => { lock (acked) { acked.Add(e.Id); if ((ulong)acked.Count == recovered) all.Set(); } };
            client.Connect();
            bool ok = recovered > 0 && all.Wait(TimeSpan.FromSeconds(20));
            lock (acked)
            {
                for (ulong id = 1; id <= recovered; ++id) ok = ok && acked.Contains(id);
                Console.WriteLine("recovered " + recovered + ", acked " + acked.Count + (ok ? ": nothing lost" : ": LOST"));
            }
            client.CloseAsync().Wait(TimeSpan.FromSeconds(10));
            return ok ? 0 : 1;
        }
    }

    static int Main(string[] args)
    {
        if (args.Length < 1) return Usage();
        string store = null, url = null;
        int count = 100;
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
            case "--store": store = args[i + 1]; break;
            case "--url": url = args[i + 1]; break;
            case "--count": count = int.Parse(args[i + 1]); break;
            default: return Usage();
            }
        }
        if (store == null || url == null) return Usage();
        switch (args[0])
        {
        case "queue": return Queue(store, url, count);
        case "resume": return Resume(store, url);
        case "demo": // from a fresh store
            foreach (var f in new[] { store, store + "-wal", store + "-journal" }) System.IO.File.Delete(f);
            var self = System.Reflection.Assembly.GetExecutingAssembly().Location;
            var child = Process.Start(new ProcessStartInfo("mono", "\"" + self + "\" queue --store \"" + store +
                                                           "\" --url " + url + " --count " + count) { UseShellExecute = false });
            child.WaitForExit();
            Console.WriteLine("queue process ended with " + child.ExitCode);
            return Resume(store, url);
        default: return Usage();
        }
    }

    static int Usage()
    {
        Console.Error.WriteLine("usage: durable.exe queue|resume|demo --store FILE --url URL [--count N]");
        return 2;
    }
}
