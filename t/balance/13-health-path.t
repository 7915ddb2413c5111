#!/usr/bin/perl
# Health checks with path= against live php-fpm members: the check is a
# real FastCGI request whose SCRIPT_NAME and SCRIPT_FILENAME are the path,
# and an answer is healthy unless its Status is not 2xx.  So a PHP script
# named by its file path decides: while it answers 200 the member stays
# in; when it answers 500 or 404 the member is taken out after fails=
# checks (AH10710, the status page's state and last check say so), gets no
# request, and comes back after passes= good checks (AH10711).  A path the
# member's php-fpm has no file for is answered "404 File not found" by
# php-fpm itself: that takes the member out of that balancer alone.
#
# health.php answers as its member's control file health-N says ("ok",
# "code N": http_response_code(N), or "header N": header("Status: N ...")).
# PHP writes the Status line of http_response_code() first, and one set
# with header() where the script set it, here after Content-Type: CGI
# (RFC 3875 section 6.3) puts the header fields in no order, and the
# checks only looked at the first line, so that 503 kept the member in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VfBal;

my $bed = VfBal->new(conf_extra => <<'CONF');
<Proxy balancer://php2>
    BalancerMember fcgi://10.251.1.2:9000
</Proxy>
VhostFcgiHealthCheck balancer://php2 path=/no/such/file.php interval=1 timeout=0.5 fails=1 passes=1
CONF
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
my $doc = $bed->dir . '/htdocs';
mkdir $doc;
chmod 0755, $doc;
VfBal::write_file("$doc/health.php", <<'PHP');
<?php
$how = trim((string)@file_get_contents(__DIR__ . '/health-' . getenv('MEMBER')));
header('Content-Type: text/plain');
if (preg_match('/^code (\d+)$/', $how, $m)) {
    http_response_code((int)$m[1]);
}
if (preg_match('/^header (\d+)$/', $how, $m)) {
    header("Status: $m[1] Down for maintenance");
}
echo "$how\n";
PHP
sub set_health { VfBal::write_file("$doc/health-$_[0]", "$_[1]\n") }
set_health($_, 'ok') for 1 .. 3;
# (start() waits until every member of balancer://php passed its checks.)
$bed->{health} = "path=$doc/health.php interval=1 timeout=0.5 fails=2 passes=2";
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

sub member {
    my $by = $bed->backends('main') or return {};
    return $by->{$_[0]} || {};
}

sub log_since { VfBal::slurp($bed->error_log, $_[0]) }

# Who answers 30 requests: { member => count }, and the statuses not 200.
sub spread {
    my @res = $bed->load(clients => 3, total => 30)->finish;
    my (%by, @bad);
    for (@res) {
        $by{$_->{member} // '-'}++;
        push @bad, $_->{status} if $_->{status} != 200;
    }
    return (\%by, "@bad");
}

# --- a path answered 200 keeps every member in --------------------------------
my $from = $bed->error_log_size;
my %checks0 = map { $_ => member($_)->{checks} } 1 .. 3;
sleep 3;
for my $n (1 .. 3) {
    my $b = member($n);
    ok($b->{state} eq 'ok' && $b->{health} eq 'ok'
       && $b->{checks} >= $checks0{$n} + 2,
       "member $n: health.php answers 200, the member stays in "
       . "($b->{state}, last check $b->{health}, $b->{checks} checks)");
}
unlike(log_since($from), qr/AH10710/, 'no member taken out');
my ($by, $bad) = spread();
is($bad, '', '30 requests: all 200');
is(scalar(grep { ($by->{$_} // 0) > 0 } 1 .. 3), 3,
   'all three members get requests') or diag(explain $by);

# --- 500, 404, a Status: header not first: out after fails=2, back after
# passes=2 ---------------------------------------------------------------------
for ([2, 500], [3, 404], [1, 503, 'header']) {
    my ($n, $code, $how) = @$_;
    $how //= 'code';
    my $url = "fcgi://10.251.$n.2:9000";
    $from = $bed->error_log_size;
    set_health($n, "$how $code");
    ok(VfBal::wait_for(sub { member($n)->{state} eq 'health-check-failed' }, 10),
       "health.php answers $code ($how) on member $n: the checks take it out")
        or diag($bed->status_text('main'));
    is(member($n)->{health}, "status $code", "... its last check: status $code");
    like(log_since($from),
         qr/AH10710: VhostFcgiHealthCheck: balancer:\/\/php member \Q$url\E taken out after 2 failed checks: status $code/,
         '... logged (AH10710)');
    ($by, $bad) = spread();
    is($bad, '', '... 30 requests: all 200');
    ok(!$by->{$n} && ($by->{1} // 0) + ($by->{2} // 0) + ($by->{3} // 0) == 30,
       "... none by member $n") or diag(explain $by);

    $from = $bed->error_log_size;
    set_health($n, 'ok');
    ok(VfBal::wait_for(sub { member($n)->{state} eq 'ok' }, 10),
       "health.php answers 200 again: member $n comes back")
        or diag($bed->status_text('main'));
    like(log_since($from),
         qr/AH10711: VhostFcgiHealthCheck: balancer:\/\/php member \Q$url\E back after 2 good checks/,
         '... logged (AH10711)');
}

# --- a path php-fpm has no file for -------------------------------------------
# balancer://php2's only member is member 1, checked at /no/such/file.php.
my $j = $bed->status('main');
my ($p2) = grep { ($_->{balancer} // '') =~ m{balancer://php2$} }
           @{ $j->{backends} || [] };
is($p2 && $p2->{state}, 'health-check-failed',
   "a path php-fpm has no file for: php-fpm's own 404 takes the member out");
is($p2 && $p2->{health}, 'status 404', '... its last check: status 404');
like(log_since(0),
     qr/AH10710: VhostFcgiHealthCheck: balancer:\/\/php2 member fcgi:\/\/10\.251\.1\.2:9000 taken out after 1 failed checks: status 404/,
     '... logged (AH10710)');
is(member(1)->{state}, 'ok', "... of balancer://php2 only: balancer://php's member 1 is in");

done_testing;
