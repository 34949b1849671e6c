"""fedmsg configuration of releng-o-tron's publishers in docker-compose.yaml (the ``bus_default`` connection's
``config``; in the image at /opt/relengotron/deploy/fedmsg.py).

Messages go to Fedora's inbound relay, signed with the X.509 certificate ``FEDMSG_CERTNAME`` from the
``fedmsg-certs`` secret directory (``<certname>.crt`` and ``<certname>.key``). Every value can be changed
through the environment of the Airflow services, without rebuilding the image.
"""

import os

config = {
    "environment": os.environ.get("FEDMSG_ENVIRONMENT", "prod"),
    "topic_prefix": os.environ.get("FEDMSG_TOPIC_PREFIX", "org.fedoraproject"),
    "relay_inbound": [os.environ.get("FEDMSG_RELAY_INBOUND", "tcp://busgateway01.phx2.fedoraproject.org:9941")],
    "endpoints": {},
    "sign_messages": os.environ.get("FEDMSG_SIGN_MESSAGES", "true").lower() == "true",
    "validate_signatures": False,
    "crypto_backend": "x509",
    "crypto_validate_backends": ["x509"],
    "ssldir": os.environ.get("FEDMSG_SSLDIR", "/run/secrets/fedmsg-certs"),
    "certname": os.environ.get("FEDMSG_CERTNAME", "releng-relengotron"),
    "high_water_mark": 0,
    # fedmsg's wait after binding a publisher; releng-o-tron's connect to the relay and wait for its
    # subscription instead (relengotron.messaging), so only a bound publisher would sleep this long
    "post_init_sleep": 0.5,
}
