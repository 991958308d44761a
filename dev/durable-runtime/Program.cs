// Hosts the real Durable extension (Microsoft.Azure.WebJobs.Extensions.DurableTask) on a plain
// WebJobs host, with DurableTask.AzureStorage on Azurite, and forwards every orchestration episode,
// activity call and entity batch to a Node bridge that runs the app's registered handlers. The
// extension speaks its out-of-process JSON protocol because FUNCTIONS_WORKER_RUNTIME=node and every
// trigger parameter is a string, as the Functions host does for JavaScript (REAL-RUNTIME.md).
//
// The real Event Grid extension serves the app's Event Grid functions the same way, behind the
// Functions host's /runtime/webhooks/{extension} route (WebHooks.cs), as does the Durable
// extension's HTTP management API.
//
// Environment: KEYROTOR_BRIDGE_URL (the Node bridge), KEYROTOR_FUNCTIONS (JSON [{name, kind,
// durableClient}] with kind orchestration|activity|entity|eventGrid), AzureWebJobsStorage (Azurite),
// KEYROTOR_TASK_HUB. Prints one line `KEYROTOR_READY <durable client JSON>` once the host runs (its
// baseUrl is the webhook route on this process's loopback port); stops on stdin EOF.
using System.Text.Json;
using DurableRuntime;
using Microsoft.Azure.WebJobs;
using Microsoft.Azure.WebJobs.Extensions.DurableTask;
using Microsoft.Azure.WebJobs.Extensions.EventGrid;
using Microsoft.Azure.WebJobs.Host.Config;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

string Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : throw new InvalidOperationException($"[keyrotor] [durable-runtime] {name} is not set");

Environment.SetEnvironmentVariable("FUNCTIONS_WORKER_RUNTIME", "node");
Bridge.BaseUrl = Env("KEYROTOR_BRIDGE_URL").TrimEnd('/');
var functions = JsonSerializer.Deserialize<List<FunctionSpec>>(Env("KEYROTOR_FUNCTIONS"), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
    ?? throw new InvalidOperationException("[keyrotor] [durable-runtime] KEYROTOR_FUNCTIONS is not a JSON array");
Env("AzureWebJobsStorage");
var hubName = Environment.GetEnvironmentVariable("KEYROTOR_TASK_HUB") is { Length: > 0 } h ? h : "keyrotorrealhub";
var stubs = StubEmitter.Emit(functions);
// Started before the WebJobs host: the extensions ask for their webhook URL while they initialize.
var webhooks = new WebHookServer();
await webhooks.StartAsync();

var host = new HostBuilder()
    .ConfigureAppConfiguration(c => c.AddEnvironmentVariables())
    .ConfigureLogging(l =>
    {
        l.AddSimpleConsole(o => { o.SingleLine = true; });
        l.SetMinimumLevel(Environment.GetEnvironmentVariable("KEYROTOR_DOTNET_LOG") == "debug" ? LogLevel.Debug : LogLevel.Warning);
    })
    .ConfigureWebJobs(b =>
    {
        b.AddDurableTask(o =>
        {
            o.HubName = hubName;
            o.LocalRpcEndpointEnabled = true;
            o.StorageProvider["maxQueuePollingInterval"] = "00:00:01";
        });
        b.AddEventGrid();
    })
    .ConfigureServices(s =>
    {
        s.AddSingleton<ITypeLocator>(new StubTypeLocator(stubs));
        s.AddSingleton<IWebHookProvider>(webhooks);
    })
    .UseConsoleLifetime()
    .Build();

await host.StartAsync();
var jobHost = host.Services.GetRequiredService<IJobHost>();
await jobHost.CallAsync(nameof(ClientCapture.CaptureClient));
Console.Out.WriteLine($"KEYROTOR_READY {ClientCapture.ClientJson}");
Console.Out.Flush();
// The test owns this process: EOF on stdin (the parent closed it) stops the host, and so does the
// parent's death (seen: a killed parent left the host running, stdin EOF notwithstanding).
ParentWatch.ExitWhenOrphaned();
await Task.Run(() => { while (Console.In.ReadLine() is not null) { } });
_ = Task.Delay(TimeSpan.FromSeconds(15)).ContinueWith(_ => Environment.Exit(0));
await host.StopAsync(TimeSpan.FromSeconds(10));
Environment.Exit(0);
