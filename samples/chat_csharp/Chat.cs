// A small chat client on the tether C# binding (see README.md).
//
// Joins a room on the reference chat-server and relays lines between the
// terminal and the room: data {"room": R, "nick": N, "text": T}. Events
// arrive on the binding's poll thread; the main thread reads stdin.
using System;
using System.Text;
using System.Threading.Tasks;
using Tether;

static class Chat
{
    // Minimal JSON string escaping (the sample avoids a JSON dependency).
    static string Quote(string s)
    {
        var b = new StringBuilder("\"");
        foreach (char c in s)
        {
            if (c == '"' || c == '\\') b.Append('\\').Append(c);
            else if (c < 0x20) b.AppendFormat("\\u{0:x4}", (int)c);
            else b.Append(c);
        }
        return b.Append('"').ToString();
    }

    static string Line(string room, string nick, string text)
    {
        return "{\"room\":" + Quote(room) + ",\"nick\":" + Quote(nick) + ",\"text\":" + Quote(text) + "}";
    }

    static int Usage()
    {
        Console.Error.WriteLine("usage: chat.exe --nick N [--room R] [--url ws://127.0.0.1:8080/ws] [--token T] [--once TEXT]");
        return 2;
    }

    static int Main(string[] args)
    {
        string url = "ws://127.0.0.1:8080/ws", token = null, nick = null, room = "lobby", once = null;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
            case "--url": url = args[i + 1]; break;
            case "--token": token = args[i + 1]; break;
            case "--nick": nick = args[i + 1]; break;
            case "--room": room = args[i + 1]; break;
            case "--once": once = args[i + 1]; break;
            default: return Usage();
            }
        }
        if (nick == null || args.Length % 2 != 0) return Usage();

        var options = new ClientOptions { Url = url, Token = token, ClientName = "chat_csharp" };
        using (var client = new TetherClient(options))
        {
            var echoed = new TaskCompletionSource<bool>();
            string onceId = nick + "-once";
            client.MessageReceived += (s, e) =>
            {
                // The server's relay carries the sender's id; the JSON is printed as is.
                Console.WriteLine("[" + room + "] " + e.Json);
                if (e.MessageId == onceId) echoed.TrySetResult(true);
            };
            client.StateChanged += (s, e) =>
                Console.Error.WriteLine("* " + e.State.ToString().ToLowerInvariant() + (e.Reason != null ? " (" + e.Reason.Message + ")" : ""));
            client.SessionLost += (s, e) =>
            {
                // A new server forgot our room: join again (sending from a handler is fine).
                Console.Error.WriteLine("* session lost: messages may have been missed; rejoining");
                client.Send("{\"room\":" + Quote(room) + "}");
            };
            client.Failed += (s, e) => Console.Error.WriteLine("* not delivered: " + e.MessageId);

            try
            {
                client.ConnectAsync().Wait(TimeSpan.FromSeconds(10));
            }
            catch (AggregateException e)
            {
                Console.Error.WriteLine("* cannot connect: " + e.InnerException.Message);
                return 1;
            }
            client.Send("{\"room\":" + Quote(room) + "}"); // join

            if (once != null)
            {
                client.Send(Line(room, nick, once), onceId);
                if (!echoed.Task.Wait(TimeSpan.FromSeconds(10))) return 1;
                client.CloseAsync(TimeSpan.FromSeconds(5)).Wait(TimeSpan.FromSeconds(10));
                return 0;
            }

            string line;
            while ((line = Console.ReadLine()) != null && line != "/quit")
            {
                if (line.Length == 0) continue;
                if (line.StartsWith("/join "))
                {
                    room = line.Substring(6).Trim();
                    client.Send("{\"room\":" + Quote(room) + "}");
                    continue;
                }
                try { client.Send(Line(room, nick, line)); }
                catch (TetherException e) { Console.Error.WriteLine("* cannot send: " + e.Message); }
            }
            client.CloseAsync(TimeSpan.FromSeconds(5)).Wait(TimeSpan.FromSeconds(10));
        }
        return 0;
    }
}
