#!/usr/bin/perl
# The vhostfcgi-status page for a balancer with a health check: each
# member's state and its last health check, as JSON and HTML, wherever the
# page is configured - in the main server and (the usual place) in the
# <VirtualHost> whose VhostFcgiPool is the balancer.  The health check is
# configured in the server configuration (it must be); its results belong
# to the balancer's members, not to a server, so both pages show them.
# Member 1 is also the member of a second balancer, balancer://php2, whose
# check asks for a path php-fpm does not have: each balancer's entry shows
# its own check (they were looked up by member alone, so one showed the
# other's).  A third balancer, balancer://other (member 2), is defined in
# a second <VirtualHost> of its own: both pages list it too, naming its
# vhost (they listed only their own server's balancers).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use VfBal;

my $bed = VfBal->new(conf_extra => <<'CONF');
<Proxy balancer://php2>
    BalancerMember fcgi://10.251.1.2:9000
</Proxy>
VhostFcgiHealthCheck balancer://php2 path=/nope interval=1 timeout=0.5 fails=100 passes=2
<VirtualHost 127.0.0.1:1>
    ServerName other.test
    <Proxy balancer://other>
        BalancerMember fcgi://10.251.2.2:9000
    </Proxy>
</VirtualHost>
CONF
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

# A few requests, and two rounds of checks (interval=1).
my @res = $bed->load(clients => 3, total => 30)->finish;
is(scalar(grep { $_->{status} == 200 } @res), 30, '30 requests answered');
sleep 2;

my @fields = qw(balancer member state elected busy health health_age_s
                checks check_failures);
for my $where (qw(main vhost)) {
    my $j = $bed->status($where);
    ok($j, "$where status page: JSON") or next;
    ok(ref $j->{pools} eq 'ARRAY' && ref $j->{backends} eq 'ARRAY',
       "$where: pools and backends");
    my $by = $bed->backends($where);
    is(scalar keys %$by, 3, "$where: three members");
    for my $n (1 .. 3) {
        my $b = $by->{$n} or next;
        my @missing = grep { !exists $b->{$_} } @fields;
        is("@missing", '', "$where: member $n has every field");
        is($b->{state}, 'ok', "$where: member $n state ok");
        is($b->{health}, 'ok', "$where: member $n last health check ok");
        cmp_ok($b->{checks}, '>=', 2, "$where: member $n checked "
               . "($b->{checks} checks)");
        ok($b->{health_age_s} >= 0 && $b->{health_age_s} <= 2,
           "$where: member $n checked within 2 s "
           . "(health_age_s $b->{health_age_s})");
    }
}

# balancer://php2's member 1: its own check, which fails.
{
    my $j = $bed->status('main');
    my ($m1) = grep { ($_->{balancer} // '') =~ m{balancer://php2$}
                      && ($_->{member} // '') =~ /10\.251\.1\.2/ } @{$j->{backends} || []};
    ok($m1, 'main: balancer://php2 member 1 listed');
    isnt($m1 ? $m1->{health} : 'ok', 'ok',
         "main: balancer://php2's member 1 shows its own failing check ("
         . ($m1 ? $m1->{health} : '-') . ')');
}

# balancer://other, defined in vhost other.test, on both pages.
for my $where (qw(main vhost)) {
    my $j = $bed->status($where) or next;
    my @o = grep { ($_->{balancer} // '') =~ m{balancer://other$} } @{$j->{backends} || []};
    is(scalar @o, 1, "$where: balancer://other of vhost other.test listed once");
    is($o[0] ? $o[0]{server} : '', 'other.test', "$where: ... naming its vhost");
}

# HTML: the members and their last check.
for my $where (qw(main vhost)) {
    (my $url = $bed->status_url($where)) =~ s/\?json$//;
    my $res = HTTP::Tiny->new(timeout => 5)->get($url);
    is($res->{status}, 200, "$where: HTML page");
    for my $n (1 .. 3) {
        like($res->{content},
             qr{fcgi://10\.251\.$n\.2:9000</td><td>ok</td>
                <td>\d+</td><td>\d+</td><td>ok</td>}x,
             "$where HTML: member $n ok, last check ok");
    }
}

done_testing;
