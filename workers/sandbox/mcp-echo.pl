#!/usr/bin/perl
# aicli-mcp-echo: a tiny stdio MCP server shipped in the sandbox image, so a workspace can try its
# mcp_servers (and the tests can run a real one) without installing anything. One JSON-RPC message
# per line on stdin and stdout (the MCP stdio transport). Tools:
#   echo {text}  -> "echo: <text>"
#   secret_check {name} -> whether env var <name> is set, and its length (never its value)
use strict;
use warnings;
use JSON::PP;

my $json = JSON::PP->new->utf8->canonical;
$| = 1;

sub reply {
  my ($id, $result) = @_;
  print $json->encode({ jsonrpc => '2.0', id => $id, result => $result }), "\n";
}

sub fail {
  my ($id, $code, $message) = @_;
  print $json->encode({ jsonrpc => '2.0', id => $id, error => { code => $code, message => $message } }), "\n";
}

my @tools = (
  {
    name => 'echo',
    description => 'Returns the given text, prefixed with "echo: ".',
    inputSchema => { type => 'object', properties => { text => { type => 'string' } }, required => ['text'] },
  },
  {
    name => 'secret_check',
    description => 'Tells whether an environment variable is set in this server, and its length; never its value.',
    inputSchema => { type => 'object', properties => { name => { type => 'string' } }, required => ['name'] },
  },
);

sub text_result { return { content => [{ type => 'text', text => $_[0] }], isError => JSON::PP::false } }

while (my $line = <STDIN>) {
  next if $line =~ /^\s*$/;
  my $msg = eval { $json->decode($line) };
  if (!$msg || ref $msg ne 'HASH') { fail(undef, -32700, 'parse error'); next; }
  my $id = $msg->{id};
  my $method = $msg->{method} // '';
  next unless defined $id;    # notifications (notifications/initialized, cancelled) need no answer
  if ($method eq 'initialize') {
    my $version = ($msg->{params} // {})->{protocolVersion} // '2025-06-18';
    reply($id, { protocolVersion => $version, capabilities => { tools => {} }, serverInfo => { name => 'aicli-mcp-echo', version => '1.0.0' } });
  } elsif ($method eq 'ping') {
    reply($id, {});
  } elsif ($method eq 'tools/list') {
    reply($id, { tools => \@tools });
  } elsif ($method eq 'tools/call') {
    my $params = $msg->{params} // {};
    my $args = $params->{arguments} // {};
    my $name = $params->{name} // '';
    if ($name eq 'echo') {
      reply($id, text_result('echo: ' . ($args->{text} // '')));
    } elsif ($name eq 'secret_check') {
      my $var = $args->{name} // '';
      my $value = $ENV{$var};
      reply($id, text_result(defined $value ? "$var is set (" . length($value) . ' characters)' : "$var is not set"));
    } else {
      fail($id, -32602, "unknown tool: $name");
    }
  } else {
    fail($id, -32601, "method not found: $method");
  }
}
