package ewssim

import "net/http"

type subscription struct{}
type watchState struct{}
type stream struct{}

func (s *Server) watchLoop() { <-s.stop }

func (s *Server) subscribe(w http.ResponseWriter, rc *reqCtx) string   { return "" }
func (s *Server) unsubscribe(rc *reqCtx) string                        { return "" }
func (s *Server) getStreamingEvents(w http.ResponseWriter, rc *reqCtx) {}
