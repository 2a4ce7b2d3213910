// A C# program built against the Tether NuGet package (restored from a local
// folder feed): connects to the URL in args[0] (chat-server --echo), sends one
// message and exits 0 once it is acknowledged and echoed back.
using System;
using System.Threading;
using Tether;

static class Program
{
    static int Main(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: roundtrip.exe ws://127.0.0.1:PORT/ws");
            return 2;
        }
        var echoed = new ManualResetEventSlim();
        using (var client = new TetherClient(new ClientOptions { Url = args[0] }))
        {
            client.MessageReceived += (s, e) => { if (e.Json.Contains("hello from C#")) echoed.Set(); };
            if (!client.ConnectAsync().Wait(TimeSpan.FromSeconds(20))) return Fail("no session within 20 s");
            var send = client.SendAsync("{\"text\":\"hello from C#\"}");
            if (!send.Wait(TimeSpan.FromSeconds(20))) return Fail("no ack within 20 s");
            if (!echoed.Wait(TimeSpan.FromSeconds(20))) return Fail("no echo within 20 s");
            client.CloseAsync(TimeSpan.FromSeconds(5)).Wait(TimeSpan.FromSeconds(10));
            Console.WriteLine("Tether " + TetherClient.Version + ": acked id " + send.Result + ", echoed");
        }
        return 0;
    }

    static int Fail(string why)
    {
        Console.Error.WriteLine("roundtrip: " + why);
        return 1;
    }
}
