// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// keepalive-websocket-server: a WebSocket echo server whose clients are
// watched twice. A KeepAliveServer (with --cert and --key a
// KeepAliveSslServer, for wss://) accepts the TCP connections, applies the
// keepalive options and reports every client it loses with the reason; it
// hands each connection to a QWebSocketServer that does not listen itself.
// Every QWebSocket gets a KeepAliveHeartbeat that sends WebSocket pings,
// which every WebSocket peer answers by itself. A host that vanished is
// found by keepalive, a hung peer process by the heartbeat: the server
// reports both, the latter as HeartbeatTimeout.

#include "../shared/keepalivetool.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>
#include <KeepAliveSslServer>

#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QJsonObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#include <QtWebSockets/QWebSocket>
#include <QtWebSockets/QWebSocketServer>

#include <algorithm>
#include <memory>

using namespace std::chrono;
using namespace KeepAliveTool;

namespace {

QList<QCommandLineOption> describeCommandLine(QCommandLineParser &parser)
{
    parser.setApplicationDescription(
            QStringLiteral("A WebSocket echo server on a KeepAliveServer: every connection has "
                           "TCP keepalive and a heartbeat of WebSocket pings. Logs connects, "
                           "lost clients with the reason and disconnects.\n\n")
            + exitCodeHelp(true));
    parser.addHelpOption();
    parser.addVersionOption();
    const QList<QCommandLineOption> options{
            {QStringLiteral("heartbeat"),
             QStringLiteral("Ping a client silent for INTERVAL (default 10 s); dead after "
                            "MAXMISSED unanswered pings (default 3)."),
             QStringLiteral("interval[,maxmissed]")},
            {QStringLiteral("stats"),
             QStringLiteral("Print the clients and their round-trip times every INTERVAL."),
             QStringLiteral("interval")},
            {QStringLiteral("cert"), QStringLiteral("wss://: the certificate chain (PEM)."),
             QStringLiteral("file")},
            {QStringLiteral("key"), QStringLiteral("wss://: the unencrypted private key (PEM)."),
             QStringLiteral("file")},
    };
    return listenCommandLineOptions(8765) + options + keepAliveCommandLineOptions();
}

// --cert and --key: the TLS configuration of a wss:// server.
std::optional<UsageError> readTls(const QCommandLineParser &parser, QSslConfiguration *tls)
{
    const QString certificate = parser.value(QStringLiteral("cert"));
    const QString keyPath = parser.value(QStringLiteral("key"));
    if (certificate.isEmpty() || keyPath.isEmpty())
        return UsageError{QStringLiteral("--cert and --key go together")};
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(
            certificate, QSsl::Pem, QSslCertificate::PatternSyntax::FixedString);
    if (chain.isEmpty())
        return UsageError{
                QStringLiteral("--cert \"%1\": no PEM certificate in it").arg(certificate)};
    QFile file(keyPath);
    const QByteArray pem = file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    QSslKey key(pem, QSsl::Ec);
    if (key.isNull())
        key = QSslKey(pem, QSsl::Rsa);
    if (key.isNull())
        return UsageError{QStringLiteral("--key \"%1\": no unencrypted PEM key (EC or RSA) in it")
                                  .arg(keyPath)};
    *tls = QSslConfiguration::defaultConfiguration();
    tls->setLocalCertificateChain(chain);
    tls->setPrivateKey(key);
    tls->setPeerVerifyMode(QSslSocket::VerifyNone);
    return std::nullopt;
}

// --heartbeat INTERVAL[,MAXMISSED], judged by the library: a heartbeat that only holds the settings.
std::optional<UsageError> configure(const QCommandLineParser &parser, KeepAliveHeartbeat *heartbeat)
{
    if (!parser.isSet(QStringLiteral("heartbeat")))
        return std::nullopt;
    UsageError error;
    const QString text = parser.value(QStringLiteral("heartbeat"));
    const std::optional<HeartbeatSetting> setting =
            parseHeartbeatSetting(QStringLiteral("heartbeat"), text, &error);
    if (!setting)
        return error;
    const QString rejected = applyHeartbeatSetting(*setting, heartbeat);
    if (!rejected.isEmpty())
        return UsageError{QStringLiteral("--heartbeat %1: %2").arg(text, rejected)};
    return std::nullopt;
}

// What the command line asks for, once it has been judged valid.
struct Settings
{
    QHostAddress address{QHostAddress::LocalHost};
    quint16 port = 8765;
    KeepAliveOptions options;
    std::optional<milliseconds> stats;
    std::optional<QSslConfiguration> tls; //!< wss://
};

// The command line into \a settings and \a heartbeat (which only holds the
// heartbeat settings); the usage error, if any.
std::optional<UsageError> readSettings(const QCommandLineParser &parser, Settings *settings,
                                       KeepAliveHeartbeat *heartbeat)
{
    if (!parser.positionalArguments().isEmpty())
        return UsageError{QStringLiteral("unexpected argument \"%1\" (see --help)")
                                  .arg(parser.positionalArguments().constFirst())};
    if (std::optional<UsageError> error =
                parseListen(parser, QStringLiteral("address"), &settings->address, &settings->port))
        return error;
    UsageError error;
    const std::optional<KeepAliveOptions> options = keepAliveOptionsFromCommandLine(parser, &error);
    if (!options)
        return error;
    settings->options = *options;
    if (parser.isSet(QStringLiteral("stats"))
        && !(settings->stats = parseTimerDuration(parser, QStringLiteral("stats"), &error)))
        return error;
    if (std::optional<UsageError> settingError = configure(parser, heartbeat))
        return settingError;
    if (parser.isSet(QStringLiteral("cert")) || parser.isSet(QStringLiteral("key"))) {
        QSslConfiguration tls;
        if (std::optional<UsageError> tlsError = readTls(parser, &tls))
            return tlsError;
        settings->tls = tls;
    }
    return std::nullopt;
}

// The KeepAliveServer (wss://: a KeepAliveSslServer) that accepts the TCP
// connections and logs every client it loses, with the reason.
std::unique_ptr<QTcpServer> makeServer(const Settings &settings, Output &out)
{
    const auto lost = [&out](QAbstractSocket *client, QtKeepAlive::ClientLossReason reason) {
        out.event(QStringLiteral("lost"),
                  QStringLiteral("lost %1 %2 %3")
                          .arg(endpoint(client->peerAddress(), client->peerPort()),
                               enumName(reason), client->errorString()));
    };
    if (settings.tls) {
        auto server = std::make_unique<KeepAliveSslServer>();
        server->setSslConfiguration(*settings.tls);
        server->setKeepAliveOptions(settings.options);
        QObject::connect(server.get(), &KeepAliveSslServer::clientLost, server.get(), lost);
        return server;
    }
    auto server = std::make_unique<KeepAliveServer>();
    server->setKeepAliveOptions(settings.options);
    QObject::connect(server.get(), &KeepAliveServer::clientLost, server.get(), lost);
    return server;
}

// Every client, once connected (wss://: encrypted), goes to \a webSockets
// for the WebSocket handshake; each QWebSocket echoes text and gets a
// heartbeat with the settings \a settings holds, kept in \a heartbeats.
void serveWebSockets(QTcpServer *server, QWebSocketServer *webSockets,
                     const KeepAliveHeartbeat *settings,
                     QSet<const KeepAliveHeartbeat *> *heartbeats, Output &out)
{
    // A TCP socket is deleted once disconnected; QWebSocket does not own it.
    QObject::connect(server, &QTcpServer::pendingConnectionAvailable, webSockets,
                     [server, webSockets] {
                         while (QTcpSocket *socket = server->nextPendingConnection()) {
                             QObject::connect(socket, &QAbstractSocket::disconnected, socket,
                                              &QObject::deleteLater);
                             webSockets->handleConnection(socket);
                         }
                     });
    QObject::connect(webSockets, &QWebSocketServer::newConnection, webSockets, [=, &out] {
        while (QWebSocket *webSocket = webSockets->nextPendingConnection()) {
            webSocket->setParent(webSockets);
            const QString peer = endpoint(webSocket->peerAddress(), webSocket->peerPort());
            auto *heartbeat = new KeepAliveHeartbeat(webSocket);
            heartbeat->setInterval(settings->interval());
            heartbeat->setMaxMissed(settings->maxMissed());
            heartbeats->insert(heartbeat);
            QObject::connect(heartbeat, &QObject::destroyed, webSockets,
                             [heartbeats, heartbeat] { heartbeats->remove(heartbeat); });
            QObject::connect(webSocket, &QWebSocket::textMessageReceived, webSocket,
                             &QWebSocket::sendTextMessage);
            QObject::connect(webSocket, &QWebSocket::disconnected, webSocket,
                             [&out, webSocket, peer] {
                                 out.event(QStringLiteral("disconnected"),
                                           QStringLiteral("disconnected ") + peer);
                                 webSocket->deleteLater();
                             });
            out.event(QStringLiteral("connected"), QStringLiteral("connected ") + peer);
        }
    });
}

// --stats: the clients and their round-trip times every interval.
void startStats(QTimer *timer, const QSet<const KeepAliveHeartbeat *> *heartbeats,
                milliseconds interval, Output &out)
{
    QObject::connect(timer, &QTimer::timeout, timer, [heartbeats, &out] {
        QJsonObject fields{{QStringLiteral("clients"), qint64(heartbeats->size())}};
        const QString roundTrip = roundTripSummary(heartbeats->values(), &fields);
        out.event(QStringLiteral("stats"),
                  QStringLiteral("stats: %1 client(s)%2").arg(heartbeats->size()).arg(roundTrip),
                  fields);
    });
    timer->start(interval);
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    setUpTool(QStringLiteral("keepalive-websocket-server"));
    QCommandLineParser parser;
    if (const std::optional<int> exitCode =
                handleCommandLine(parser, describeCommandLine(parser), app.arguments()))
        return *exitCode;
    Settings settings;
    QWebSocket unconnected; // its heartbeat holds the settings for every client's
    auto *heartbeatSettings = new KeepAliveHeartbeat(&unconnected);
    if (const std::optional<UsageError> error = readSettings(parser, &settings, heartbeatSettings))
        return usage(*error);

    Output out(false, false);
    const std::unique_ptr<QTcpServer> server = makeServer(settings, out);
    QSet<const KeepAliveHeartbeat *> heartbeats;
    QWebSocketServer webSockets(QStringLiteral("keepalive-websocket-server"),
                                settings.tls ? QWebSocketServer::SecureMode
                                             : QWebSocketServer::NonSecureMode);
    serveWebSockets(server.get(), &webSockets, heartbeatSettings, &heartbeats, out);
    if (!server->listen(settings.address, settings.port)) {
        printError(QStringLiteral("cannot listen on %1: %2")
                           .arg(endpoint(settings.address, settings.port), server->errorString()));
        return ExitNetwork;
    }
    out.event(QStringLiteral("listening"),
              QStringLiteral("listening on %1 (%2); heartbeat %3, %4 missed; keepalive %5")
                      .arg(endpoint(server->serverAddress(), server->serverPort()),
                           settings.tls ? QStringLiteral("wss") : QStringLiteral("ws"),
                           formatDuration(heartbeatSettings->interval()))
                      .arg(heartbeatSettings->maxMissed())
                      .arg(describe(settings.options)));
    QTimer statsTimer;
    if (settings.stats)
        startStats(&statsTimer, &heartbeats, *settings.stats, out);
    StopSignals stopSignals;
    QObject::connect(&stopSignals, &StopSignals::stopRequested, &app, &QCoreApplication::quit);
    return QCoreApplication::exec();
}
