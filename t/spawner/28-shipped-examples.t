#!/usr/bin/perl
# The examples admins copy must work as shipped:
# - conf/pools.conf passes the spawner's own check (-t);
# - conf/vhostfcgi.load, conf/vhostfcgi.conf and conf/vhosts.conf, with
#   the module's path and the pools file's where this tree has them, pass
#   "apache2 -t" (what "apachectl configtest" runs);
# - no directive line in those files or in README.md's ```apache blocks
#   carries a comment after it: httpd takes "# ..." there as arguments
#   (a LoadModule then "takes two arguments"; after VhostFcgiSpawner the
#   words went to the spawner, which exited, and httpd restarted it for
#   ever).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();
my $root = "$FindBin::Bin/../..";
my $so = $ENV{VF_MODULE_SO} // "$root/.libs/mod_vhostfcgi.so";
plan skip_all => "$so missing (make module)" unless -f $so;

sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; scalar <$fh> }

# The users and groups conf/pools.conf names, for this test only: they are
# removed again at the end (the unit tests count on php-uls not existing).
my (@made_users, @made_groups);
END {
    system('userdel', $_) for @made_users;
    system('groupdel', $_) for @made_groups;
}
for my $u (qw(php-uls php-shop)) {
    next if defined getpwnam($u);
    ensure_user($u);
    push @made_users, $u;
}
for my $g (qw(uls shop)) {
    next if defined getgrnam($g);
    system('groupadd', '--system', $g) == 0 or die "groupadd $g failed\n";
    push @made_groups, $g;
}

# --- comments after directives ----------------------------------------------
my @apache;                                     # [where, line]
for my $f (qw(conf/vhostfcgi.load conf/vhostfcgi.conf conf/vhosts.conf)) {
    my $n = 0;
    push @apache, map { $n++; ["$f:$n", $_] } split /\n/, slurp("$root/$f");
}
{
    my ($n, $in) = (0, 0);
    for (split /\n/, slurp("$root/README.md")) {
        $n++;
        if (/^```(\w*)/) { $in = !$in && $1 eq 'apache'; next }
        push @apache, ["README.md:$n", $_] if $in;
    }
}
my @trailing = grep { $_->[1] =~ /^\s*[^#\s].*\s#/ } @apache;
is_deeply([map { "$_->[0]: $_->[1]" } @trailing], [],
          'no httpd directive line carries a comment after it');

# --- the pools file ---------------------------------------------------------
my $out = `'${\ spawn_bin()}' -t -c '$root/conf/pools.conf' 2>&1`;
is($? >> 8, 0, 'conf/pools.conf passes vhostfcgi-spawn -t') or diag($out);
like($out, qr/\buls\b/, '... and defines pool uls');
like($out, qr/\bshop\b/, '... and pool shop');

# --- the httpd examples -------------------------------------------------------
my $dir = test_dir();
for my $f (qw(vhostfcgi.load vhostfcgi.conf vhosts.conf)) {
    my $text = slurp("$root/conf/$f");
    $text =~ s{/usr/lib/apache2/modules/mod_vhostfcgi\.so}{$so}g;
    $text =~ s{/etc/vhostfcgi/pools\.conf}{$root/conf/pools.conf}g;
    write_file("$dir/$f", $text);
}
my $mods = '/usr/lib/apache2/modules';
write_file("$dir/httpd.conf", <<EOC);
ServerRoot $dir
ServerName localhost
Listen 127.0.0.1:80
PidFile $dir/httpd.pid
ErrorLog $dir/error.log
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule proxy_module $mods/mod_proxy.so
TypesConfig /etc/mime.types
Include $dir/vhostfcgi.load
Include $dir/vhostfcgi.conf
Include $dir/vhosts.conf
EOC
my $httpd = -x '/usr/sbin/apache2' ? '/usr/sbin/apache2' : 'httpd';
$out = `$httpd -d '$dir' -f '$dir/httpd.conf' -t 2>&1`;
is($? >> 8, 0, 'conf/vhostfcgi.load, vhostfcgi.conf and vhosts.conf pass apache2 -t')
    or diag($out);
like($out, qr/Syntax OK/, '... Syntax OK');
done_testing();
