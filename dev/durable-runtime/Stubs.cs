using System.Net.Http.Headers;
using System.Reflection;
using System.Reflection.Emit;
using System.Text;
using Microsoft.Azure.WebJobs;
using Microsoft.Azure.WebJobs.Extensions.DurableTask;
using Microsoft.Azure.WebJobs.Host.Config;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace DurableRuntime;

public sealed record FunctionSpec(string Name, string Kind);

/// <summary>Captures the JSON the extension gives a JavaScript app for a [DurableClient] string binding.</summary>
public static class ClientCapture
{
    public static string ClientJson { get; private set; } = "";

    [NoAutomaticTrigger]
    public static void CaptureClient([DurableClient] string client) => ClientJson = client;
}

/// <summary>
/// One static method per app durable function, `Task&lt;object&gt; name([XTrigger] string context)`,
/// emitted at start because the function names come from the app (what the Functions host's
/// FunctionGenerator does). Each body is `Bridge.Invoke(name, kind, context)`.
/// </summary>
public static class StubEmitter
{
    public static Type Emit(IReadOnlyList<FunctionSpec> functions)
    {
        var asm = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName("KeyrotorStubs"), AssemblyBuilderAccess.Run);
        var module = asm.DefineDynamicModule("KeyrotorStubs");
        var type = module.DefineType("KeyrotorFunctions", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed | TypeAttributes.Class);
        var invoke = typeof(Bridge).GetMethod(nameof(Bridge.Invoke))!;
        var fnNameCtor = typeof(FunctionNameAttribute).GetConstructor(new[] { typeof(string) })!;
        foreach (var fn in functions)
        {
            var trigger = fn.Kind switch
            {
                "orchestration" => typeof(OrchestrationTriggerAttribute),
                "activity" => typeof(ActivityTriggerAttribute),
                "entity" => typeof(EntityTriggerAttribute),
                _ => throw new InvalidOperationException($"[keyrotor] [durable-runtime] unknown kind {fn.Kind} for {fn.Name}"),
            };
            var m = type.DefineMethod(fn.Name, MethodAttributes.Public | MethodAttributes.Static, typeof(Task<object>), new[] { typeof(string) });
            m.SetCustomAttribute(new CustomAttributeBuilder(fnNameCtor, new object[] { fn.Name }));
            var p = m.DefineParameter(1, ParameterAttributes.None, "context");
            p.SetCustomAttribute(new CustomAttributeBuilder(trigger.GetConstructor(Type.EmptyTypes)!, Array.Empty<object>()));
            var il = m.GetILGenerator();
            il.Emit(OpCodes.Ldstr, fn.Name);
            il.Emit(OpCodes.Ldstr, fn.Kind);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Call, invoke);
            il.Emit(OpCodes.Ret);
        }
        return type.CreateType()!;
    }
}

public sealed class StubTypeLocator(Type stubs) : ITypeLocator
{
    public IReadOnlyList<Type> GetTypes() => new[] { stubs, typeof(ClientCapture) };
}

/// <summary>The extension builds management URLs from a webhook URI; without a provider GetWebhookUri throws.</summary>
public sealed class LoopbackWebHookProvider : IWebHookProvider
{
    public Uri GetUrl(IExtensionConfigProvider extension) => new("http://127.0.0.1:7071/runtime/webhooks/durabletask");
}

/// <summary>Forwards one invocation to the Node bridge and converts its answer as the Functions host does.</summary>
public static class Bridge
{
    public static string BaseUrl { get; set; } = "";
    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(5) };
    static readonly JsonSerializerSettings NoDates = new() { DateParseHandling = DateParseHandling.None };

    public static async Task<object> Invoke(string name, string kind, string context)
    {
        var body = JsonConvert.SerializeObject(new { name, kind, payload = context });
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var resp = await Http.PostAsync($"{BaseUrl}/invoke", content);
        var text = await resp.Content.ReadAsStringAsync();
        var answer = JsonConvert.DeserializeObject<JObject>(text, NoDates)
            ?? throw new InvalidOperationException($"[keyrotor] [durable-runtime] empty bridge answer for {name}");
        if (answer.Value<bool>("ok") != true)
        {
            // The worker's RpcException as the host words it; the orchestrator state follows
            // $OutOfProcData$ inside the message (OutOfProcExceptionHelpers).
            throw new Exception($"Result: Failure\nException: {answer.Value<string>("message")}\nStack: {answer.Value<string>("stack")}");
        }
        var json = answer.Value<string>("result");
        if (json is null) return null!;
        var token = JsonConvert.DeserializeObject<JToken>(json, NoDates)!;
        // Activities: a JSON string goes back as a string (a JToken string would be serialized
        // twice); orchestrators and entities need a JObject.
        if (kind == "activity" && token.Type == JTokenType.String) return token.Value<string>()!;
        return token;
    }
}

/// <summary>Exits when the parent process is gone (Linux: the parent pid changes on reparenting).</summary>
public static partial class ParentWatch
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentPid();

    public static void ExitWhenOrphaned()
    {
        if (!System.OperatingSystem.IsLinux()) return;
        var parent = GetParentPid();
        var thread = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(500);
                if (GetParentPid() != parent) Environment.Exit(3);
            }
        }) { IsBackground = true };
        thread.Start();
    }
}
