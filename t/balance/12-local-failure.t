#!/usr/bin/perl
# A request that fails in httpd, not at the member, leaves every member in
# the rotation.  mod_proxy puts a balancer member in error for retry=
# seconds whenever the scheme handler returns 500, whoever's the fault:
# before, a request whose parameters could not be built took out the
# member it was sent to, the next such request the next member, and so on
# until mod_proxy_balancer's forcerecovery put them all back at once.
#
# The local failure: a ProxyFCGISetEnvIf condition that reads a file
# named by a request header (a per-tenant flag file), for a tenant with
# no file.  httpd cannot evaluate it ("Cannot open file", AH10620), so
# the parameters cannot be built.  Two such requests (byrequests: two of
# the three members; a third would have made forcerecovery hide the
# damage) must each get 500 with the ErrorDocument and an access-log
# line; then the status page must show the three members ok, and nine
# normal requests must be answered 200 by all three.  The same for a
# request the client got wrong (a malformed chunk: 400), and for a
# drop-in SetHandler worker outside any balancer (500, ErrorDocument).
# The balancer has failonstatus=500, which must count a script's own 500
# (the last check: that member goes out) and not httpd's.  No health
# checks: they would put a member back on their own.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use VfBal;

my $bed = VfBal->new(
    lbmethod      => 'byrequests',
    member_params => 'timeout=3 connectiontimeout=1 retry=30',
    health        => undef,
    balancer_extra => ['ProxySet failonstatus=500'],
);
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
my $dir = $bed->dir;
$bed->{conf_extra} = <<"CONF";
<Directory "$dir/htdocs">
    LimitRequestBody 4096
    ProxyFCGISetEnvIf "-n req('X-Tenant') && file('$dir/tenants/' . req('X-Tenant')) =~ /debug/" APP_DEBUG "1"
</Directory>
# A drop-in handler outside the balancer: a plain worker.
<Directory "$dir/htdocs/direct">
    VhostFcgiPool none
    SetHandler "proxy:fcgi://10.251.1.2:9000"
</Directory>
ErrorDocument 500 /oops.html
LogLevel warn vhostfcgi:debug
CONF
mkdir "$dir/tenants";
VfBal::write_file("$dir/tenants/known", "debug\n");
eval {
    $bed->write_docroot;
    mkdir "$dir/htdocs/direct";
    chmod 0755, "$dir/htdocs/direct";
    VfBal::write_file("$dir/htdocs/direct/who.php",
                      VfBal::slurp("$dir/htdocs/who.php"));
    VfBal::write_file("$dir/htdocs/oops.html", "oops: not the member's fault\n");
    VfBal::write_file("$dir/htdocs/e500.php",
                      "<?php http_response_code(500); echo 'the script failed';\n");
    $bed->start;
    1;
} or BAIL_OUT("test bed did not come up: $@");

my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
my $n = 0;

# One GET with headers: (status, body, request id for the access log).
sub get {
    my ($path, %h) = @_;
    my $id = 'r' . ++$n;
    my $res = $ua->get($bed->url($path),
                       { headers => { 'X-Req-Id' => $id, %h } });
    return ($res->{status}, $res->{content} // '', $id);
}

# A POST to $path with the headers and body written as they are: the
# status of the answer.
sub post_raw {
    my ($path, $rest) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $bed->port,
                                  Timeout => 10) or return "connect: $!";
    print $s "POST $path HTTP/1.1\r\nHost: bal.test\r\nConnection: close\r\n$rest";
    my $line = <$s> // '';
    return $line =~ m{^HTTP/1\.1 (\d+)} ? $1 : "no answer: $line";
}

# A chunked POST of a body written as it is.
sub raw_post {
    return post_raw('/who.php', "Transfer-Encoding: chunked\r\n\r\n$_[0]");
}

# A POST of $len bytes to $path, with a Content-Length or chunked.
sub post_len {
    my ($path, $len, $chunked) = @_;
    my $body = 'x' x $len;
    return post_raw($path, $chunked
        ? sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                  $len, $body)
        : "Content-Length: $len\r\n\r\n$body");
}

# Nine normal requests: { member => count } and the statuses not 200.
sub spread {
    my (%by, @bad);
    for (1 .. 9) {
        my ($st, $body) = get('/who.php');
        push @bad, $st if $st != 200;
        $by{$1}++ if $body =~ /^member=(\d)/m;
    }
    return (\%by, \@bad);
}

sub members_ok {
    my $st = $bed->backends('main') or return 0;
    return scalar grep { ($st->{$_}{state} // '') eq 'ok' } 1 .. 3;
}

# --- control: a tenant with a flag file gets it ---------------------------
my ($st, $body) = get('/who.php', 'X-Tenant' => 'known');
is($st, 200, 'control: a known tenant: 200');

# --- the request's fault: a malformed chunked body (mod_proxy left the
# member alone for a 400 before too) -----------------------------------------
for my $i (1 .. 2) {
    is(raw_post("zz\r\nabc\r\n0\r\n\r\n"), 400, "a malformed chunk $i: 400");
}
is(members_ok(), 3, 'the status page shows the three members ok')
    or diag($bed->status_text('main'));
my ($by, $bad) = spread();
is("@$bad", '', 'then nine normal requests: all 200');
is(join(',', sort keys %$by), '1,2,3', '... answered by all three members')
    or diag(explain $by);

# --- the local failure, twice: at two members ----------------------------
my $elog = $bed->error_log_size;
my $alog = $bed->access_log_size;
my @ids;
for my $i (1 .. 2) {
    my ($s, $b, $id) = get('/who.php', 'X-Tenant' => 'nosuch');
    is($s, 500, "unknown tenant $i: 500");
    like($b, qr/oops: not the member's fault/, "... with the ErrorDocument");
    push @ids, $id;
}
my $log = VfBal::slurp($bed->error_log, $elog);
like($log, qr/AH10620: ProxyFCGISetEnvIf: condition for APP_DEBUG failed: Cannot open file/,
     'the error log says why');
like($log, qr/AH10745: FastCGI: 500, not the fault of backend /,
     '... and that the backend is not to blame (debug)');
unlike($log, qr/AH10652|Forcing worker|AH01174/, 'no member was blamed');
my $acc = $bed->access_entries($alog, \@ids);
is(join(' ', map { $acc->{$_} ? $acc->{$_}[0] : '-' } @ids), '500 500',
   'the access log has the two 500s');
is(members_ok(), 3, 'the status page shows the three members ok')
    or diag($bed->status_text('main'));

($by, $bad) = spread();
is("@$bad", '', 'then nine normal requests: all 200');
is(join(',', sort keys %$by), '1,2,3', '... answered by all three members')
    or diag(explain $by);

# --- LimitRequestBody 4096, which httpd's input filter leaves to a proxy
# (regression: the drop-in sent any body on) ------------------------------
$elog = $bed->error_log_size;
is(post_len('/who.php', 4000), 200, 'a POST of 4000 bytes under LimitRequestBody 4096: 200');
is(post_len('/who.php', 5000), 413, 'a POST of 5000 bytes: 413');
is(post_len('/who.php', 70000, 1), 413, 'a chunked POST of 70000 bytes: 413');
is(post_len('/direct/who.php', 5000), 413,
   'a POST of 5000 bytes to the drop-in worker outside the balancer: 413');
like(VfBal::slurp($bed->error_log, $elog),
     qr/AH10747: FastCGI: the request body \(5000 bytes or more\) is larger than LimitRequestBody 4096/,
     'the error log says so');
is(members_ok(), 3, 'the three members stay in')
    or diag($bed->status_text('main'));

# --- a worker outside any balancer ----------------------------------------
($st, $body) = get('/direct/who.php');
is($st, 200, 'drop-in SetHandler outside the balancer: 200');
like($body, qr/^member=1/m, '... from member 1');
$alog = $bed->access_log_size;
my $id;
($st, $body, $id) = get('/direct/who.php', 'X-Tenant' => 'nosuch');
is($st, 500, 'and for an unknown tenant: 500');
like($body, qr/oops: not the member's fault/, '... with the ErrorDocument');
$acc = $bed->access_entries($alog, [$id]);
is($acc->{$id} ? $acc->{$id}[0] : '-', '500', '... and its access-log line');
($st) = get('/direct/who.php');
is($st, 200, '... and the next request: 200');

# --- control: a script's own 500 is the member's, as failonstatus= says --
($st, $body) = get('/e500.php');
is($st, 500, "a script's own 500 is passed on");
like($body, qr/the script failed/, '... with its own body');
is(members_ok(), 2, '... and failonstatus=500 takes that member out')
    or diag($bed->status_text('main'));
done_testing;
