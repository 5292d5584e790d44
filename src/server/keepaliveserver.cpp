// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepaliveserver.h"

#include "keepalivelogging_p.h"
#include "servercore_p.h"

using namespace std::chrono;

//! Everything but the socket class lives in ServerCore, shared with KeepAliveSslServer.
class KeepAliveServerPrivate : public ServerCore
{
public:
    explicit KeepAliveServerPrivate(KeepAliveServer *server)
        : ServerCore(server, signalsOf<KeepAliveSocket>(server))
    {
    }
};

KeepAliveServer::KeepAliveServer(QObject *parent)
    : QTcpServer(parent),
      d(std::make_unique<KeepAliveServerPrivate>(this))
{
}

// d goes first: its connections to the clients end before ~QTcpServer()
// deletes the pending ones.
KeepAliveServer::~KeepAliveServer() = default;

bool KeepAliveServer::setKeepAliveOptions(const KeepAliveOptions &options)
{
    return notifyChange(d->setOptions(options), [&] { Q_EMIT keepAliveOptionsChanged(options); });
}

KeepAliveOptions KeepAliveServer::keepAliveOptions() const
{
    return d->options();
}

KeepAliveServer::KeepAliveError KeepAliveServer::keepAliveError() const
{
    return d->error();
}

QString KeepAliveServer::keepAliveErrorString() const
{
    return d->errorString();
}

bool KeepAliveServer::setIdleTimeout(milliseconds timeout)
{
    return notifyChange(d->setIdleTimeout(timeout), [&] { Q_EMIT idleTimeoutChanged(timeout); });
}

milliseconds KeepAliveServer::idleTimeout() const
{
    return d->idleTimeout();
}

bool KeepAliveServer::setMaxClients(int count)
{
    return notifyChange(d->setMaxClients(count), [&] { Q_EMIT maxClientsChanged(count); });
}

int KeepAliveServer::maxClients() const
{
    return d->maxClients();
}

int KeepAliveServer::clientCount() const
{
    return d->clientCount();
}

QString KeepAliveServer::settingErrorString() const
{
    return d->settingErrorString();
}

KeepAliveSocket *KeepAliveServer::nextPendingConnection()
{
    return static_cast<KeepAliveSocket *>(d->takePending(KeepAliveSocket::staticMetaObject));
}

void KeepAliveServer::incomingConnection(qintptr socketDescriptor)
{
    auto *client = new KeepAliveSocket(this);
    client->setKeepAliveOptions(d->options());
    if (!client->setSocketDescriptor(socketDescriptor)) {
        qCWarning(lcKeepAlive).noquote()
                << "could not adopt an accepted connection:" << client->errorString();
        delete client;
        return;
    }
    if (d->admit(client))
        d->queue(client);
}

bool KeepAliveServer::addPendingClient(KeepAliveSocket *client)
{
    if (!d->isNewClient(client, "KeepAliveServer::addPendingClient") || !d->admit(client))
        return false;
    d->queue(client);
    return true;
}
