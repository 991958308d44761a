using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Formatters;
using Microsoft.AspNetCore.Mvc.WebApiCompatShim;
using Microsoft.Azure.WebJobs;
using Microsoft.Azure.WebJobs.Description;
using Microsoft.Azure.WebJobs.Host.Config;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using LegacyHttpHandler = Microsoft.Azure.WebJobs.IAsyncConverter<System.Net.Http.HttpRequestMessage, System.Net.Http.HttpResponseMessage>;

namespace DurableRuntime;

/// <summary>
/// The Functions host's extension webhook route, /runtime/webhooks/{extension}/{*extra}, served as
/// the host serves it (HostController.ExtensionWebHookHandler): the extension's name is its
/// [Extension] configuration section in lower case (DefaultScriptWebHookProvider), the ASP.NET
/// request becomes an HttpRequestMessage through WebApiCompatShim's HttpRequestMessageFeature, the
/// extension's own converter answers, and WebApiCompatShim's HttpResponseMessageOutputFormatter
/// writes the answer back. Not emulated: the host's system-key check (?code=), which the
/// Functions host does before the extension sees the request.
/// </summary>
public sealed class WebHookServer : IWebHookProvider
{
    static readonly string[] Verbs = { "GET", "POST", "DELETE", "OPTIONS" };
    readonly Dictionary<string, LegacyHttpHandler> _handlers = new(StringComparer.OrdinalIgnoreCase);
    WebApplication? _app;

    /// <summary>http://127.0.0.1:port, once started.</summary>
    public Uri Origin { get; private set; } = new("http://127.0.0.1:0");

    /// <summary>Binds a free loopback port (the OS picks it: no port something else holds).</summary>
    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Map("/runtime/webhooks/{extensionName}/{**extra}", Handle);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Origin = new Uri(address.Replace("[::1]", "127.0.0.1"));
        _app = app;
    }

    public Task StopAsync() => _app?.StopAsync() ?? Task.CompletedTask;

    /// <summary>Called by each extension's Initialize (context.GetWebhookHandler()).</summary>
    public Uri GetUrl(IExtensionConfigProvider extension)
    {
        var handler = extension as LegacyHttpHandler
            ?? throw new InvalidOperationException("Extension must implement IAsyncConverter<HttpRequestMessage, HttpResponseMessage> in order to receive webhooks");
        var type = extension.GetType();
        var name = (type.GetCustomAttribute<ExtensionAttribute>()?.ConfigurationSection ?? type.Name).ToLowerInvariant();
        lock (_handlers) _handlers[name] = handler;
        return new Uri(Origin, $"/runtime/webhooks/{name}");
    }

    async Task Handle(HttpContext ctx)
    {
        if (!Verbs.Contains(ctx.Request.Method, StringComparer.OrdinalIgnoreCase))
        {
            ctx.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        LegacyHttpHandler? handler;
        lock (_handlers) _handlers.TryGetValue((string)ctx.Request.RouteValues["extensionName"]!, out handler);
        if (handler is null)
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        HttpResponseMessage response;
        try
        {
            var request = new HttpRequestMessageFeature(ctx).HttpRequestMessage;
            response = await handler.ConvertAsync(request, ctx.RequestAborted);
        }
        catch (Exception e)
        {
            // An exception out of the extension's converter is the host's unhandled 500.
            Console.Error.WriteLine($"[keyrotor] [durable-runtime] webhook {ctx.Request.Path}{ctx.Request.QueryString} threw {e.GetType().FullName}: {e.Message}");
            ctx.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }
        var write = new OutputFormatterWriteContext(ctx, (s, e) => new StreamWriter(s, e), typeof(HttpResponseMessage), response);
        await new HttpResponseMessageOutputFormatter().WriteAsync(write);
    }
}
