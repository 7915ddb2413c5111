# VhostFcgiMaxInFlight 1 queue=0 (vhost vf_admit_redirect) and requests
# that lead to a second request of the same pool inside httpd:
#   - a CGI local redirect (status 200, Location: /admit/new.php), which
#     httpd serves itself with an internal redirect once the backend is
#     done with the first script;
#   - ProxyErrorOverride: the script answers 404 and httpd's ErrorDocument
#     404 is itself a script of the pool (ap_die -> internal redirect).
# The first request's backend work is over when the nested one starts, so
# the nested request must get the pool's one place: 200 NEW-RAN and 404
# ERRDOC-RAN, as on a vhost without admission control.  Regression: the
# place was kept across the redirect, so the nested request was refused
# (503, AH10700 "has 1 requests in flight and 0 waiting").  Afterwards the
# pool's shared counters are back at 0 in flight and 0 queued, and a plain
# request still gets the place.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 14;

my $vhost = 'vf_admit_redirect';
my $mark = log_mark();

for my $round (1, 2) {
    my $res = raw_request($vhost, 'GET', '/admit/redirect.php', timeout => 20);
    is($res->{status}, 200, "local redirect to a script, round $round: 200");
    like($res->{body} // '', qr/^NEW-RAN$/m,
         "local redirect, round $round: the target script ran")
        or diag("body: " . ($res->{body} // ''));
}

for my $round (1, 2) {
    my $res = raw_request($vhost, 'GET', '/php/status.php?code=404', timeout => 20);
    is($res->{status}, 404, "ProxyErrorOverride 404, round $round: 404");
    like($res->{body} // '', qr/^ERRDOC-RAN$/m,
         "ProxyErrorOverride 404, round $round: the ErrorDocument script ran")
        or diag("body: " . ($res->{body} // ''));
}

my $plain = raw_request($vhost, 'GET', '/admit/new.php', timeout => 20);
is($plain->{status}, 200, 'afterwards, a plain request gets the place');
like($plain->{body} // '', qr/^NEW-RAN$/m, 'and runs');

my $refused = grep { /AH10700/ } split /\n/, log_since($mark);
is($refused, 0, 'no request was refused by VhostFcgiMaxInFlight (AH10700)')
    or diag(log_since($mark));

my $st = pool_status("unix:$ENV{VF_FPM_SOCK}");
ok($st, 'the status page shows the pool') or diag('no status for the pool');
is($st && $st->{inflight}, 0, 'no place left taken (inflight 0)');
is($st && $st->{queued}, 0, 'nothing left queued (queued 0)');
