"""The Docker-free local stack of DESIGN §5: emulator, gateway, pollers, scheduler and provider sink."""
