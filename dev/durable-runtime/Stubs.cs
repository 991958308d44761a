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

/// <summary>One app function: kind orchestration|activity|entity|eventGrid; DurableClient: it has a durable client input.</summary>
public sealed record FunctionSpec(string Name, string Kind, bool DurableClient = false);

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
/// FunctionGenerator does). Each body is `Bridge.Invoke(name, kind, context)`. An Event Grid function
/// is `Task name([EventGridTrigger] string eventGridEvent, [DurableClient] string client)` (the
/// client only when the app declared one), whose body is `Bridge.InvokeTrigger(...)`.
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
            if (fn.Kind == "eventGrid")
            {
                EmitTrigger(type, fn, fnNameCtor);
                continue;
            }
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

    static void EmitTrigger(TypeBuilder type, FunctionSpec fn, ConstructorInfo fnNameCtor)
    {
        var invoke = typeof(Bridge).GetMethod(nameof(Bridge.InvokeTrigger))!;
        var args = fn.DurableClient ? new[] { typeof(string), typeof(string) } : new[] { typeof(string) };
        var m = type.DefineMethod(fn.Name, MethodAttributes.Public | MethodAttributes.Static, typeof(Task), args);
        m.SetCustomAttribute(new CustomAttributeBuilder(fnNameCtor, new object[] { fn.Name }));
        var p = m.DefineParameter(1, ParameterAttributes.None, "eventGridEvent");
        p.SetCustomAttribute(new CustomAttributeBuilder(typeof(Microsoft.Azure.WebJobs.Extensions.EventGrid.EventGridTriggerAttribute).GetConstructor(Type.EmptyTypes)!, Array.Empty<object>()));
        if (fn.DurableClient)
        {
            var c = m.DefineParameter(2, ParameterAttributes.None, "client");
            c.SetCustomAttribute(new CustomAttributeBuilder(typeof(DurableClientAttribute).GetConstructor(Type.EmptyTypes)!, Array.Empty<object>()));
        }
        var il = m.GetILGenerator();
        il.Emit(OpCodes.Ldstr, fn.Name);
        il.Emit(OpCodes.Ldstr, fn.Kind);
        il.Emit(OpCodes.Ldarg_0);
        if (fn.DurableClient) il.Emit(OpCodes.Ldarg_1); else il.Emit(OpCodes.Ldnull);
        il.Emit(OpCodes.Call, invoke);
        il.Emit(OpCodes.Ret);
    }
}

public sealed class StubTypeLocator(Type stubs) : ITypeLocator
{
    public IReadOnlyList<Type> GetTypes() => new[] { stubs, typeof(ClientCapture) };
}

/// <summary>Forwards one invocation to the Node bridge and converts its answer as the Functions host does.</summary>
public static class Bridge
{
    public static string BaseUrl { get; set; } = "";
    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(5) };
    static readonly JsonSerializerSettings NoDates = new() { DateParseHandling = DateParseHandling.None };

    /// <summary>A trigger whose return value nobody reads (Event Grid): the event as the extension's
    /// JToken-to-string converter wrote it, and the durable client JSON when the function has one.</summary>
    public static async Task InvokeTrigger(string name, string kind, string trigger, string? client)
    {
        await Call(new { name, kind, payload = trigger, client });
    }

    public static async Task<object> Invoke(string name, string kind, string context)
    {
        var answer = await Call(new { name, kind, payload = context });
        var json = answer.Value<string>("result");
        if (json is null) return null!;
        var token = JsonConvert.DeserializeObject<JToken>(json, NoDates)!;
        // Activities: a JSON string goes back as a string (a JToken string would be serialized
        // twice); orchestrators and entities need a JObject.
        if (kind == "activity" && token.Type == JTokenType.String) return token.Value<string>()!;
        return token;
    }

    static async Task<JObject> Call(object request)
    {
        using var content = new StringContent(JsonConvert.SerializeObject(request), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var resp = await Http.PostAsync($"{BaseUrl}/invoke", content);
        var text = await resp.Content.ReadAsStringAsync();
        var answer = JsonConvert.DeserializeObject<JObject>(text, NoDates)
            ?? throw new InvalidOperationException("[keyrotor] [durable-runtime] empty bridge answer");
        if (answer.Value<bool>("ok") != true)
        {
            // The worker's RpcException as the host words it; the orchestrator state follows
            // $OutOfProcData$ inside the message (OutOfProcExceptionHelpers).
            throw new Exception($"Result: Failure\nException: {answer.Value<string>("message")}\nStack: {answer.Value<string>("stack")}");
        }
        return answer;
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
