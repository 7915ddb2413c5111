# VhostFcgiMaxInFlight on a balancer:// pool (vhost vf_admit_balancer:
# balancer://admit of the two php-fpm TCP pools, "1 queue=0").  Such a pool
# is served by mod_proxy's handler, not the module's own; the limit must
# hold all the same.  Regression: it did nothing there - three concurrent
# 2 s requests all got 200 (a named pool: 503 503 200).
#   - three at once: one 200 (the script ran its 2 s), two 503 with
#     Retry-After, answered at once;
#   - afterwards the place is free again: requests one after another all
#     get 200 (a place never given back would make each of them 503);
#   - a request that leads to a second one of the pool inside httpd still
#     runs: a CGI local redirect to a script, ProxyErrorOverride's
#     ErrorDocument script (404), and the ErrorDocument script of a 502
#     (a Status out of range), which runs while the failed request keeps
#     its place;
#   - another vhost's own balancer of the same name is another pool: two
#     slow requests there leave this vhost's place free (they took it).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 17;

my $vhost = 'vf_admit_balancer';
my $path = '/reuse/sleep.php?ms=2000';

# Three at once.
my @held;
for (1 .. 3) {
    my $sock = raw_connect($vhost);
    syswrite $sock, "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    push @held, { sock => $sock, sent => time };
    sleep 0.05;
}
read_held(\@held);
my @answers = grep { $_->{res} } @held;
diag(sprintf 'three at once: %s',
     join(', ', map { sprintf '%s after %.2f s', $_->{res}{status} // '?', $_->{elapsed} }
                sort { $a->{elapsed} <=> $b->{elapsed} } @answers));
is(scalar @answers, 3, 'three concurrent requests: all answered');
my @ok = grep { ($_->{res}{status} // 0) == 200 } @answers;
my @busy = grep { ($_->{res}{status} // 0) == 503 } @answers;
is(scalar @ok, 1, 'one of them admitted (200)');
like($ok[0] ? $ok[0]{res}{body} // '' : '', qr/^slept 2000 ms/, 'and its script ran');
is(scalar @busy, 2, 'the other two refused (503)');
ok(@busy && !grep({ ($_->{res}{header}{'retry-after'} // '') !~ /^\d+$/ } @busy),
   'the 503s carry Retry-After');
ok(@busy && !grep({ $_->{elapsed} > 1.5 } @busy), 'and came at once (queue=0)');

# The status page has a row for each vhost's balancer://admit pool: this
# one's counts the two refusals.
{
    require JSON::PP;
    my $res = raw_request('vf_reuse_fpm', 'GET', '/vf-status?json');
    my $data = eval { JSON::PP::decode_json($res->{body}) } || {};
    my @rows = grep { ($_->{name} // '') eq 'balancer://admit' } @{$data->{pools} || []};
    my @refusing = grep { ($_->{errors}{admission} // 0) >= 2 } @rows;
    ok(@rows == 2 && @refusing == 1 && defined $refusing[0]{where},
       'status page: both vhosts\' balancer://admit pools, this one with its refusals')
        or diag($res->{body});
}

# The place is given back: one after another, every request is admitted.
my @seq = map { raw_request($vhost, 'GET', '/admit/new.php', timeout => 20)->{status} } 1 .. 4;
is("@seq", '200 200 200 200', 'afterwards, requests one after another: all 200');

my $res = raw_request($vhost, 'GET', '/admit/redirect.php', timeout => 20);
is($res->{status}, 200, 'local redirect to a script: 200');
like($res->{body} // '', qr/^NEW-RAN$/m, 'local redirect: the target script ran');

$res = raw_request($vhost, 'GET', '/php/status.php?code=404', timeout => 20);
is($res->{status}, 404, 'ProxyErrorOverride 404: 404');
like($res->{body} // '', qr/^ERRDOC-RAN$/m, 'ProxyErrorOverride 404: the ErrorDocument script ran');

$res = raw_request($vhost, 'GET', '/php/status.php?code=999', timeout => 20);
is($res->{status}, 502, 'a Status out of range: 502');
like($res->{body} // '', qr/^ERRDOC-RAN$/m, '502: the ErrorDocument script ran');

@seq = map { raw_request($vhost, 'GET', '/admit/new.php', timeout => 20)->{status} } 1 .. 3;
is("@seq", '200 200 200', 'and still: requests one after another all 200');

# Two slow requests on vf_admit_balancer2's own balancer://admit, then one
# here: admitted.
{
    my @other;
    for (1 .. 2) {
        my $sock = raw_connect('vf_admit_balancer2');
        syswrite $sock, "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        push @other, { sock => $sock, sent => time };
    }
    sleep 0.5;
    my $res = raw_request($vhost, 'GET', '/admit/new.php', timeout => 20);
    is($res->{status}, 200, "another vhost's balancer of the same name busy: this one still admits (200)")
        or diag($res->{body});
    read_held(\@other);
    is(scalar(grep { ($_->{res}{status} // 0) == 200 } @other), 2,
       "... and the other vhost's two requests were served");
}
